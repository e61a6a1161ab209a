"""model-index.yml / metafile.yml list exactly the HAP configs that exist."""
import subprocess
import sys
from pathlib import Path

import yaml


def _models(repo_root: Path):
    index = yaml.safe_load((repo_root / 'model-index.yml').read_text())
    models = []
    for meta in index['Import']:
        data = yaml.safe_load((repo_root / meta).read_text())
        for model in data['Models']:
            readme = data['Collections'][0]['README']
            assert (repo_root / readme).is_file(), readme
            models.append(model)
    return models


def test_every_listed_config_exists_and_every_hap_config_is_listed(
        repo_root):
    models = _models(repo_root)
    listed = {m['Config'] for m in models}
    for cfg in listed:
        assert (repo_root / cfg).is_file(), cfg
    on_disk = {
        str(p.relative_to(repo_root))
        for p in (repo_root / 'configs' / 'hap').rglob('*.py')
        if '_base_' not in p.parts
    }
    assert on_disk == listed
    assert len({m['Name'] for m in models}) == len(models)


def test_mim_search_lists_the_configs(repo_root):
    mim = Path(sys.executable).parent / 'mim'
    proc = subprocess.run([str(mim), 'search', 'hap_mm'],
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for model in _models(repo_root):
        assert f"config id: {model['Name']}" in proc.stdout, model['Name']
    # results are the paper's, and mim's listing says so next to each one
    reported = [name for model in _models(repo_root)
                for result in (model.get('Results') or [])
                for name in result['Metrics']]
    assert reported
    for name in reported:
        assert 'reported by the HAP paper' in name, name
    # mim lower-cases the listing and joins words with '_'
    shown = proc.stdout.lower().replace('_', ' ')
    assert shown.count('reported by the hap paper') >= len(reported)
