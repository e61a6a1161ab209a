"""The pre-training configs' optimiser groups and batches follow the release
(MAE's ``add_weight_decay``: only 1-D parameters and biases skip weight
decay, frozen parameters are not optimised; ``drop_last=True``)."""
from pathlib import Path

import pytest
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

import hap_mm  # noqa: F401  (registers the modules)
from hap_mm.utils import load_config

CONFIGS = Path(__file__).resolve().parents[1] / 'configs' / 'hap'
PRETRAIN = sorted(
    list(CONFIGS.glob('*.py')) + list(CONFIGS.glob('ablations/*.py')))


def _mae_weight_decay(name, param, wd):
    """timm's ``add_weight_decay`` as MAE and the release call it (no skip
    list): None for a frozen parameter (left out), 0 for 1-D parameters
    and biases, ``wd`` for everything else."""
    if not param.requires_grad:
        return None
    if param.ndim <= 1 or name.endswith('.bias'):
        return 0.0
    return wd


@pytest.mark.parametrize('config', ['hap_demo.py', 'hap_vitb_lup.py'])
def test_weight_decay_groups_are_maes(config):
    cfg = load_config(str(CONFIGS / config))
    demo = load_config(str(CONFIGS / 'hap_demo.py'))
    model = MODELS.build(demo.model)  # the small model; rules go by name
    optim = cfg.optim_wrapper
    # the schedule's AmpOptimWrapper needs CUDA; its groups come from this
    constructor = DefaultOptimWrapperConstructor(
        dict(type='OptimWrapper', optimizer=optim.optimizer),
        optim.get('paramwise_cfg'))
    groups = constructor(model).optimizer.param_groups
    got = {id(p): g['weight_decay'] for g in groups for p in g['params']}
    wd = optim.optimizer.weight_decay
    decayed, checked = set(), 0
    for name, param in model.named_parameters():
        want = _mae_weight_decay(name, param, wd)
        assert got.get(id(param)) == want, name
        checked += 1
        if want:
            decayed.add(name)
    assert {'backbone.cls_token', 'neck.mask_token'} <= decayed
    assert not model.backbone.pos_embed.requires_grad
    assert id(model.backbone.pos_embed) not in got
    assert checked > 50


@pytest.mark.parametrize(
    'path', [p for p in PRETRAIN if p.name != 'hap_demo.py'],
    ids=lambda p: p.name)
def test_pretraining_configs_drop_the_last_partial_batch(path):
    # (the 27-image CPU demo keeps it: every image in every epoch)
    cfg = load_config(str(path))
    assert cfg.train_dataloader.get('drop_last') is True


def test_shipped_loader_steps_on_full_batches_only(demo_root):
    """hap_vitb_lup's train loader, pointed at the demo crops with a batch
    that does not divide them, makes only full batches."""
    cfg = load_config(str(CONFIGS / 'hap_vitb_lup.py'))
    loader_cfg = cfg.train_dataloader.copy()
    loader_cfg.update(batch_size=8, num_workers=0, persistent_workers=False,
                      pin_memory=False)
    loader_cfg.dataset.update(data_root=str(demo_root), ann_file='')
    loader = Runner.build_dataloader(loader_cfg)
    size = len(loader.dataset)
    assert size % 8  # a partial last batch exists
    assert len(loader) == size // 8
