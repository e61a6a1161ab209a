"""Each ablation config differs from hap_vitb_lup.py in exactly one setting."""
from pathlib import Path

import pytest
from mmengine.config import Config

CONFIGS = Path(__file__).resolve().parents[1] / 'configs' / 'hap'
# ablation -> the one setting it changes (a leaf, or a subtree such as a loss)
GEN = 'train_dataloader.collate_fn.mask_generator.'
ABLATED = {
    'hap_vitb_lup_mask-0.75.py': GEN + 'mask_ratio',
    'hap_vitb_lup_no-part.py': GEN + 'part_guided',
    'hap_vitb_lup_release-mask.py': GEN + 'release_compatible',
    'hap_vitb_lup_rrc-0.2.py': 'train_dataloader.dataset.pipeline.0.crop_ratio_range',
    'hap_vitb_lup_no-align.py': 'model.align_loss',
}


def _leaves(node, prefix=''):
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, (list, tuple)):
        items = enumerate(node)
    else:
        return {prefix[:-1]: node}
    out = {}
    for key, value in items:
        out.update(_leaves(value, f'{prefix}{key}.'))
    return out


def _settings(path: Path) -> dict:
    cfg = Config.fromfile(str(path)).to_dict()
    cfg.pop('train_pipeline', None)  # a variable; the dataloader holds it
    return _leaves(cfg)


def test_every_ablation_is_listed():
    found = {p.name for p in (CONFIGS / 'ablations').glob('*.py')}
    assert found == set(ABLATED) | {'hap_vitb_lup_mae-baseline.py'}


@pytest.mark.parametrize('name', sorted(ABLATED))
def test_ablation_changes_one_setting(name):
    base = _settings(CONFIGS / 'hap_vitb_lup.py')
    ablation = _settings(CONFIGS / 'ablations' / name)
    changed = {
        key for key in set(base) | set(ablation)
        if base.get(key, '<absent>') != ablation.get(key, '<absent>')
    }
    setting = ABLATED[name]
    assert changed, name
    assert all(k == setting or k.startswith(setting + '.') for k in changed), (
        sorted(changed))


def test_mae_baseline_is_one_view_random_masking_without_alignment():
    cfg = Config.fromfile(str(CONFIGS / 'ablations' / 'hap_vitb_lup_mae-baseline.py'))
    gen = cfg.train_dataloader.collate_fn.mask_generator
    assert (gen.num_views, gen.part_guided, gen.block_wise) == (1, False, False)
    assert cfg.model.align_loss is None
