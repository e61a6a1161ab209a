"""hap_mm installs as an OpenMMLab plugin: registries, .mim, mim, imports."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

HAP_MODULES = {
    'MODELS': [
        'HAP', 'HAPViT', 'HAPPretrainDecoder', 'HAPPretrainHead',
        'StructureInvariantAlignLoss'
    ],
    'TRANSFORMS': [
        'KeypointRandomResizedCrop', 'KeypointRandomFlip',
        'PartAwareMaskGenerator'
    ],
    'DATASETS': ['LUPersonKeypointDataset'],
    'HOOKS': ['DataIssueLoggerHook'],
    'MODEL_WRAPPERS': ['HAPDistributedDataParallel'],
    'RUNNERS': ['HAPRunner'],
    'VISUALIZERS': ['HAPVisualizer'],
}


def test_import_registers_every_module_into_mmpretrain(tmp_path):
    """In a fresh interpreter, outside the repo: nothing before the import,
    everything after it."""
    code = f'''
import mmpretrain.registry as R
wanted = {HAP_MODULES!r}
before = [n for reg, names in wanted.items() for n in names
          if getattr(R, reg).get(n) is not None]
assert not before, before
import hap_mm
missing = [reg + "." + n for reg, names in wanted.items() for n in names
           if getattr(R, reg).get(n) is None]
assert not missing, missing
print(hap_mm.__version__)
'''
    proc = subprocess.run([sys.executable, '-c', code],
                          cwd=tmp_path,
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().count('.') == 2


def test_custom_imports_config_builds_hap_from_another_directory(
        tmp_path, repo_root):
    cfg = tmp_path / 'user_cfg.py'
    cfg.write_text(
        "custom_imports = dict(imports=['hap_mm'], allow_failed_imports=False)\n"
        "model = dict(type='mmpretrain.HAPViT', arch='s', img_size=(256, 128))\n")
    code = f'''
from mmengine.config import Config
from mmengine.registry import MODELS
cfg = Config.fromfile({str(cfg)!r})
print(type(MODELS.build(cfg.model)).__name__)
'''
    proc = subprocess.run([sys.executable, '-c', code],
                          cwd=tmp_path,
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith('HAPViT')


def test_editable_install_ships_configs_and_tools_for_mim():
    from mim.utils import get_installed_path

    import hap_mm
    root = Path(get_installed_path('hap_mm'))
    mim = root / '.mim'
    assert (mim / 'configs' / 'hap' / 'hap_demo.py').is_file()
    assert (mim / 'configs' / 'hap' / 'hap_vitb_lup.py').is_file()
    assert (mim / 'tools' / 'train.py').is_file()
    assert (mim / 'tools' / 'dist_train.sh').is_file()
    # mim's package root is the code that `import hap_mm` runs
    assert (root / '__init__.py').resolve() == Path(
        hap_mm.__file__).resolve()


def _demo_files(repo_root: Path) -> set:
    """The demo data as committed (git), else as on disk."""
    proc = subprocess.run(['git', 'ls-files', 'data/demo'],
                          cwd=repo_root,
                          capture_output=True,
                          text=True)
    if proc.returncode == 0 and proc.stdout.strip():
        return set(proc.stdout.split())
    return {
        str(p.relative_to(repo_root))
        for p in (repo_root / 'data' / 'demo').rglob('*') if p.is_file()
    }


def test_wheel_ships_configs_tools_and_only_the_demo_data(tmp_path, repo_root):
    """Built next to what users have in a checkout: a dataset linked into
    data/ (as docs/data_preparation.md advises), files tools wrote into
    data/demo, a link out of the repository inside configs/."""
    src = tmp_path / 'src'
    for name in ('hap_mm', 'configs', 'tools', 'requirements', 'data'):
        shutil.copytree(
            repo_root / name,
            src / name,
            symlinks=True,
            ignore=shutil.ignore_patterns('.mim', '__pycache__'))
    for name in ('setup.py', 'README.md', 'pyproject.toml', 'model-index.yml'):
        shutil.copy(repo_root / name, src / name)
    outside = tmp_path / 'user_data'
    (outside / 'images').mkdir(parents=True)
    (outside / 'images' / 'person.jpg').write_bytes(b'not shipped')
    (outside / 'CFS_list.pkl').write_bytes(b'not shipped')
    (src / 'data' / 'LUPerson').symlink_to(outside)
    (src / 'configs' / 'my_runs').symlink_to(outside)
    (src / 'data' / 'demo' / 'index_all.jsonl').write_text('{}\n')
    (src / 'data' / 'demo' / 'images' / 'coco' / 'notes.txt').write_text('x')
    proc = subprocess.run([
        sys.executable, '-m', 'pip', 'wheel', '--no-deps',
        '--no-build-isolation', '-q', '-w',
        str(tmp_path),
        str(src)
    ],
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheel = next(tmp_path.glob('hap_mm-*.whl'))
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in ('hap_mm/.mim/configs/hap/hap_demo.py',
                 'hap_mm/.mim/configs/hap/_base_/default_runtime.py',
                 'hap_mm/.mim/tools/train.py',
                 'hap_mm/.mim/tools/dist_train.sh',
                 'hap_mm/.mim/model-index.yml',
                 'hap_mm/models/backbones/hap_vit.py'):
        assert path in names, path
    assert not any(n.startswith('tests/') for n in names)
    data = {n[len('hap_mm/.mim/'):] for n in names
            if n.startswith('hap_mm/.mim/data/')}
    assert data == _demo_files(repo_root)
    assert not any('my_runs' in n or 'CFS_list' in n for n in names)


@pytest.mark.parametrize('module', [
    'hap_mm', 'hap_mm.datasets', 'hap_mm.models', 'hap_mm.evaluation',
    'hap_mm.visualization'
])
def test_hap_mm_imports_without_downstream_hosts(module, tmp_path):
    """mmpose, mmseg, mmdet and smplx (the mesh extra) are optional: block
    them and import."""
    code = f'''
import sys
for host in ("mmpose", "mmseg", "mmdet", "smplx"):
    sys.modules[host] = None
import {module}
'''
    proc = subprocess.run([sys.executable, '-c', code],
                          cwd=tmp_path,
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_mim_train_runs_the_packaged_train_script(tmp_path, demo_root):
    mim = [str(Path(sys.executable).parent / 'mim')]
    proc = subprocess.run(mim + [
        'train', 'hap_mm', 'configs/hap/hap_demo.py', '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', 'train_cfg.max_epochs=1'
    ],
                          cwd=tmp_path,
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / 'work' / 'epoch_1.pth').exists()
