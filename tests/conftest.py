"""Shared fixtures. ``tests/`` is not a package (see pyproject.toml)."""
import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.registry import RUNNERS, DefaultScope

from hap_mm.models import HAPViT
from hap_mm.models.utils.backbone_converter import convert_checkpoint_file

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / 'data' / 'demo'


@pytest.fixture(scope='session')
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope='session')
def demo_root() -> Path:
    return DEMO


@pytest.fixture
def demo_copy(tmp_path) -> Path:
    """A writable copy of the demo data (images/ + keypoints/)."""
    dst = tmp_path / 'demo'
    shutil.copytree(DEMO, dst)
    return dst


def run_tool(args, timeout=600, cwd=REPO, env=None) -> subprocess.CompletedProcess:
    """Run a repo tool with this interpreter; fail with its output."""
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    proc = subprocess.run([sys.executable, *map(str, args)],
                          cwd=cwd,
                          env=full_env,
                          capture_output=True,
                          text=True,
                          timeout=timeout)
    return proc


@pytest.fixture
def tool():
    return run_tool


def _script_main(path):
    """``main(argv)`` of a tool script (path relative to the repo),
    imported from its file: runs in this process, without the seconds an
    interpreter needs to start and import torch."""
    spec = importlib.util.spec_from_file_location(
        Path(path).stem, REPO / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return lambda argv: module.main([str(a) for a in argv])


@pytest.fixture(scope='session')
def script_main():
    """``f(path)`` -> ``main(argv)`` of the tool script at ``path``."""
    return _script_main


def _train_demo(work_dir, *options, resume=False, check=True,
                config='configs/hap/hap_demo.py'):
    """``tools/train.py`` on a config with ``--cfg-options``; asserts rc 0."""
    args = ['tools/train.py', config, '--work-dir', work_dir]
    if resume:
        args.append('--resume')
    if options:
        args += ['--cfg-options', *options]
    proc = run_tool(args)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture
def train_demo():
    return _train_demo


def _scalars(work_dir: Path) -> list:
    """Records of the newest run's ``vis_data/scalars.json``."""
    runs = sorted(Path(work_dir).glob('*/vis_data/scalars.json'))
    assert runs, f'no scalars.json under {work_dir}'
    with open(runs[-1]) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture
def scalars():
    return _scalars


def _person_keypoints(rng: np.random.RandomState, batch: int,
                      hw=(256, 128)) -> tuple:
    """Plausible standing-person keypoints (B, 17, 2) and scores (B, 17)."""
    h, w = hw
    base = np.array([[0.5, 0.1], [0.55, 0.08], [0.45, 0.08], [0.6, 0.1],
                     [0.4, 0.1], [0.7, 0.22], [0.3, 0.22], [0.78, 0.38],
                     [0.22, 0.38], [0.8, 0.52], [0.2, 0.52], [0.62, 0.55],
                     [0.38, 0.55], [0.63, 0.75], [0.37, 0.75], [0.64, 0.95],
                     [0.36, 0.95]])
    jitter = rng.normal(0, 0.03, size=(batch, 17, 2))
    kpts = (base[None] + jitter) * np.array([w, h])
    scores = rng.uniform(0.5, 1.0, size=(batch, 17))
    return kpts, scores


@pytest.fixture
def person_keypoints():
    """``f(rng, batch, hw)`` -> standing-person keypoints and scores."""
    return _person_keypoints


def _kpt(root: Path, rel: Path) -> Path:
    return root / 'keypoints' / rel.with_suffix('.npy')


def _salt_tree(root: Path) -> dict:
    """Break files the way crawled data breaks; returns {kind: rel path}."""
    rels = sorted(
        p.relative_to(root / 'images')
        for p in (root / 'images').rglob('*.jpg'))
    bad = {}
    trunc = root / 'images' / rels[0]
    trunc.write_bytes(trunc.read_bytes()[:len(trunc.read_bytes()) // 2])
    bad['truncated'] = rels[0]
    (root / 'images' / rels[1]).write_bytes(b'')
    bad['empty'] = rels[1]
    _kpt(root, rels[2]).unlink()
    bad['missing'] = rels[2]
    arr = np.full((17, 3), 10.0, np.float32)
    arr[3, 0] = np.nan
    np.save(_kpt(root, rels[3]), arr)
    bad['nan'] = rels[3]
    np.save(_kpt(root, rels[4]), np.ones((5, 3), np.float32))
    bad['shape'] = rels[4]
    _kpt(root, rels[5]).write_text('not a numpy file')
    bad['text'] = rels[5]
    np.save(_kpt(root, rels[6]), np.zeros((17, 3), np.float32))
    bad['zero'] = rels[6]
    return bad


def _corrupt_release_npy(path: Path, value: int = 64) -> None:
    """Change one byte of a release-format ``.npy`` (a pickled (1, 1)
    object array): its pickled shape becomes (1, ``value``) while the data
    still holds one item. ``np.load`` on such a file reads past the list
    (a segfault for most values)."""
    data = bytearray(path.read_bytes())
    header_end = data.index(b'\n') + 1
    at = data.index(b'K\x01K\x01\x86', header_end)  # BININT1 1, BININT1 1, TUPLE2
    data[at + 3] = value
    path.write_bytes(bytes(data))


@pytest.fixture
def corrupt_release_npy():
    """``f(path, value=64)``: one changed byte in the pickled shape of a
    release-format keypoint file."""
    return _corrupt_release_npy


@pytest.fixture
def salt_tree():
    """``f(root)`` breaks files of a release-layout tree the way crawled
    data breaks and returns {kind: image path relative to images/}."""
    return _salt_tree


# ------------------------------------------------- downstream (host) tests
@pytest.fixture
def keep_default_scope():
    """Runners enter their host's default scope for good; give the tests
    after this one (ReID heads, ...) the scope they had."""
    saved = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict = saved


@pytest.fixture
def one_torch_thread():
    """The tiny models here run each op in microseconds; splitting them over
    threads only adds waiting, badly so on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# mmpretrain ViT names -> the release's (timm) names
TIMM_NAMES = [(r'^patch_embed\.projection\.', 'patch_embed.proj.'),
              (r'^layers\.(\d+)\.ln1\.', r'blocks.\1.norm1.'),
              (r'^layers\.(\d+)\.ln2\.', r'blocks.\1.norm2.'),
              (r'^layers\.(\d+)\.attn\.', r'blocks.\1.attn.'),
              (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
              (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
              (r'^ln1\.', 'norm.')]


@pytest.fixture(scope='session')
def release_names():
    """``to_release(state_dict)``: mmpretrain ViT names -> the release's
    (timm) names, tensors unchanged."""

    def to_release(state_dict: dict) -> dict:
        out = {}
        for key, value in state_dict.items():
            for pattern, repl in TIMM_NAMES:
                key = re.sub(pattern, repl, key)
            out[key] = value
        return out

    return to_release


@pytest.fixture(scope='session')
def release_checkpoint(tmp_path_factory, release_names):
    """``make(arch, seed, img_size=None)`` -> ``(converted, encoder,
    report)``: a HAPViT of ``arch`` (256x128 input) with random N(0, 0.02)
    weights, saved in the authors' release layout (timm names under
    'model', with the mask token and MAE decoder keys the converter must
    drop) and converted by ``convert_checkpoint_file`` (``img_size``: its
    --img-size). ``encoder`` is the ViT's tensors (mmpretrain names),
    ``report`` what the converter returned."""

    def make(arch: dict, seed: int, img_size=None) -> tuple:
        torch.manual_seed(seed)
        vit = HAPViT(arch=arch, img_size=(256, 128))
        with torch.no_grad():
            for p in vit.parameters():
                p.normal_(0, 0.02)
        encoder = {k: v.clone() for k, v in vit.state_dict().items()}
        model = release_names(encoder)
        model.update({'mask_token': torch.zeros(1, 1, 16),
                      'decoder_embed.weight': torch.zeros(16, 32),
                      'decoder_pos_embed': torch.zeros(1, 129, 16),
                      'decoder_norm.weight': torch.zeros(16)})
        folder = tmp_path_factory.mktemp('hap')
        torch.save({'model': model, 'epoch': 399}, folder / 'release.pth')
        dst = folder / 'hap_backbone.pth'
        report = convert_checkpoint_file(
            str(folder / 'release.pth'), str(dst), img_size=img_size)
        return dst, encoder, report

    return make


@pytest.fixture
def relative_hap_release(hap_release, tmp_path, monkeypatch):
    """The test module's ``hap_release`` (checkpoint, encoder) with the
    checkpoint linked as ``hap.pth`` in ``tmp_path``, now the working
    directory: mmengine formats the whole config with yapf several times
    per run, and long paths make that several times slower."""
    checkpoint, encoder = hap_release
    monkeypatch.chdir(tmp_path)
    Path('hap.pth').symlink_to(checkpoint)
    return Path('hap.pth'), encoder


def _build_runner(cfg):
    """A runner for ``cfg``, of its ``runner_type`` if it names one."""
    return RUNNERS.build(cfg) if 'runner_type' in cfg else \
        RUNNERS.build(dict(type='Runner', **cfg))


@pytest.fixture
def build_runner():
    """``f(cfg)`` -> the runner ``cfg`` describes."""
    return _build_runner


class BackboneAtStart(Hook):
    """Records the backbone once its weights are initialised (before the
    first iteration) and what loading the checkpoint again reports."""
    priority = 'VERY_HIGH'

    def __init__(self, checkpoint):
        self.checkpoint = str(checkpoint)

    def before_train(self, runner):
        backbone = runner.model.backbone
        self.state = {k: v.clone() for k, v in backbone.state_dict().items()}
        self.load_report = copy.deepcopy(backbone).load_pretrained(
            self.checkpoint, prefix='backbone.')


@pytest.fixture
def backbone_at_start():
    """``BackboneAtStart(checkpoint)``: a hook for a host runner."""
    return BackboneAtStart


def _vit_depth(name: str, num_layers: int) -> int:
    """Layer-decay depth of a host model's parameter: 0 for the ViT's
    embeddings, i + 1 for its block i, num_layers + 1 for the rest."""
    if name.startswith(('backbone.cls_token', 'backbone.pos_embed',
                        'backbone.patch_embed')):
        return 0
    block = re.match(r'backbone\.layers\.(\d+)\.', name)
    return int(block.group(1)) + 1 if block else num_layers + 1


@pytest.fixture
def layer_decay_groups():
    """``check(model, optim_wrapper, base_lr, rate, num_layers)``: asserts
    every parameter is in exactly one group with lr ``base_lr * rate **
    (num_layers + 1 - depth)``; returns ``{name: (param, group)}`` for the
    host-specific weight-decay checks."""

    def check(model, optim_wrapper, base_lr, rate, num_layers) -> dict:
        groups = {}
        for group in optim_wrapper.optimizer.param_groups:
            for param in group['params']:
                assert id(param) not in groups
                groups[id(param)] = group
        names = dict(model.named_parameters())
        assert set(groups) == {id(p) for p in names.values()}
        for name, param in names.items():
            depth = _vit_depth(name, num_layers)
            assert groups[id(param)]['lr'] == pytest.approx(
                base_lr * rate**(num_layers + 1 - depth)), name
        return {n: (p, groups[id(p)]) for n, p in names.items()}

    return check


REID_CROPS = sorted((REPO / 'tests' / 'data' / 'reid').glob('*.jpg'))
# Person id and split of each image of the tiny text ReID trees.
TEXT_REID_IMAGES = [(11, 'train'), (11, 'train'), (12, 'train'),
                    (13, 'train'), (20, 'val'), (21, 'val'), (30, 'test'),
                    (30, 'test'), (31, 'test')]
_COLOURS = ('red', 'blue', 'green', 'black', 'white', 'grey', 'yellow',
            'brown', 'pink')


def _text_reid_tree(kind: str, root: Path) -> Path:
    """A tiny CUHK-PEDES / ICFG-PEDES / RSTPReid tree in the public JSON
    layout, images copied from the fixture person crops; ICFG-PEDES has no
    val split and one caption per image, the others two."""
    entries = []
    for index, (pid, split) in enumerate(TEXT_REID_IMAGES):
        if kind == 'ICFGPEDES' and split == 'val':
            continue
        colour = _COLOURS[index]
        captions = [f'A person wearing a {colour} shirt and dark trousers.',
                    f'The man has a {colour} top, he walks.']
        if kind == 'CUHKPEDES':
            entry = dict(split=split, captions=captions,
                         file_path=f'CUHK01/{pid:04d}{index:03d}.png',
                         processed_tokens=[c.lower().split()
                                           for c in captions], id=pid)
            rel = entry['file_path']
        elif kind == 'ICFGPEDES':
            entry = dict(id=pid, file_path=f'{split}/{pid:04d}/'
                         f'{pid:04d}_{index:03d}_0.jpg',
                         captions=captions[:1],
                         processed_tokens=[captions[0].lower().split()],
                         split=split)
            rel = entry['file_path']
        else:
            entry = dict(id=pid, img_path=f'{pid:04d}_c{index}_0001.jpg',
                         captions=captions, split=split)
            rel = entry['img_path']
        dest = root / 'imgs' / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REID_CROPS[index % len(REID_CROPS)], dest)
        entries.append(entry)
    ann = {'CUHKPEDES': 'reid_raw.json', 'ICFGPEDES': 'ICFG-PEDES.json',
           'RSTPReid': 'data_captions.json'}[kind]
    (root / ann).write_text(json.dumps(entries))
    return root


@pytest.fixture
def text_reid_tree():
    """``make(kind, root)``: builds a tiny text ReID tree of data set class
    name ``kind`` under ``root`` and returns ``root``."""
    return _text_reid_tree


# ------------------------------------------------------ inference (apis)
INFER_ARCH = dict(
    embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
INFER_CONFIGS = {
    'reid': 'configs/downstream/reid/hapvit-b_1xb64-100e_market1501-256x128.py',
    'reid-lem':
    'configs/downstream/reid/hapvit-b-lem_1xb64-100e_market1501-256x128.py',
    'attribute':
    'configs/downstream/attribute/hapvit-b_8xb8-55e_pa100k-256x192.py',
}


@pytest.fixture(scope='session')
def tiny_inference_model(tmp_path_factory):
    """``make(kind, seed=0)`` -> (config file, checkpoint file): the real
    ReID ('reid', 'reid-lem') or attribute ('attribute') config with a
    2-layer 32-dim ViT (a 64-channel LEM branch, 4 identities / 26
    attributes), saved with a randomly initialised model as an mmengine
    checkpoint (``state_dict`` + ``meta``)."""
    from mmengine.config import Config

    from hap_mm.apis import init_model
    made = {}

    def make(kind: str, seed: int = 0):
        if (kind, seed) in made:
            return made[kind, seed]
        cfg = Config.fromfile(REPO / INFER_CONFIGS[kind])
        cfg.model.backbone.arch = INFER_ARCH
        cfg.model.backbone.init_cfg = None
        dims = INFER_ARCH['embed_dims']
        if kind.startswith('reid'):
            channels = [dims]
            if cfg.model.neck is not None:  # ViT-lem
                cfg.model.neck.update(in_channels=dims, out_channels=2 * dims)
                channels.append(2 * dims)
            cfg.model.head.update(in_channels=tuple(channels), num_classes=4)
        else:
            cfg.model.head.in_channels = dims
        folder = tmp_path_factory.mktemp(f'infer_{kind}')
        config = folder / f'tiny_{kind}.py'
        cfg.dump(str(config))
        torch.manual_seed(seed)
        model = init_model(str(config))
        meta = {}
        if kind == 'attribute':
            meta['dataset_meta'] = dict(
                classes=[f'attribute_{i:02d}' for i in range(26)])
        checkpoint = folder / f'tiny_{kind}_{seed}.pth'
        torch.save(dict(state_dict=model.state_dict(), meta=meta),
                   checkpoint)
        made[kind, seed] = (config, checkpoint)
        return made[kind, seed]

    return make


@pytest.fixture(scope='session')
def mesh_body_files(tmp_path_factory) -> dict:
    """Synthetic SMPL neutral/male/female ``.pkl`` files (real keys and
    shapes, random values) and the two joint-regressor ``.npy`` files, written
    once per session (see ``tests/helpers/mesh_files.py``).

    Returns:
        dict: ``model_dir`` (folder of ``SMPL_*.pkl``), ``smpl`` (gender ->
        path), ``extra`` and ``h36m`` (regressor paths).
    """
    # tests/ is not a package and pytest runs with --import-mode=importlib,
    # so it is not on sys.path by itself
    if str(REPO / 'tests') not in sys.path:
        sys.path.insert(0, str(REPO / 'tests'))
    from helpers.mesh_files import write_joint_regressors, write_smpl_models
    root = tmp_path_factory.mktemp('body_models')
    smpl = write_smpl_models(str(root))
    return dict(model_dir=str(root), smpl=smpl,
                **write_joint_regressors(str(root)))
