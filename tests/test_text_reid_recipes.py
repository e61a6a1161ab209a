"""The text-to-image ReID configs follow the HAP release's recipe.

The table below is written from /work/shared/docs/RELEASE_DOWNSTREAM.md
section 4 (4.1 model, 4.2 losses, 4.3 optimisation and data) and section 6,
not from the configs. Each config is loaded with mmengine and compared with
it; the optimizer is built on a model from the config (the frozen BERT
replaced by the vocabulary encoder, which needs no weights) to check the
learning rate and weight decay of each parameter group."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

import hap_mm  # noqa: F401  (registers the modules)

CONFIGS = Path(__file__).resolve().parents[1] / 'configs' / 'downstream' / \
    'text_reid'
# data set key in the file name -> R@1 reported by the HAP paper.
REPORTED_R1 = {'cuhk-pedes': 68.05, 'icfg-pedes': 61.80, 'rstpreid': 49.35}
RECIPE = dict(
    size=(384, 128), grid=(24, 8), drop_path=0.1, embed=384, margin=0.2,
    max_tokens=100, optimizer='Adam', betas=(0.9, 0.999), weight_decay=0.0,
    lr_rest=1e-3, lr_vit=1e-4, epochs=60, batch=64, seed=233, pad=10,
    # MultiStepLR([20, 40, 50]) stepped at the start of each epoch: the
    # decays act from 1-based epochs 20, 40, 50.
    decay_from_one_based=(20, 40, 50), gamma=0.1)
TRAIN_AUG = ['LoadImageFromFile', 'Resize', 'RandomCrop', 'RandomFlip',
             'PackInputs']


def _config(key):
    (path, ) = CONFIGS.glob(f'hapvit-b_bert-bilstm_1xb64-60e_{key}-384x128.py')
    return path, Config.fromfile(str(path))


@pytest.mark.parametrize('key', sorted(REPORTED_R1))
def test_config_follows_the_release_recipe(key):
    path, cfg = _config(key)
    header = path.read_text().split('\n_base_')[0]
    assert f'{REPORTED_R1[key]:.2f}' in header

    backbone = cfg.model.image_backbone
    assert tuple(backbone.img_size) == RECIPE['size']
    assert backbone.patch_size * RECIPE['grid'][0] == RECIPE['size'][0]
    assert backbone.drop_path_rate == RECIPE['drop_path']
    assert backbone.final_norm is False  # tokens before the final LN
    assert cfg.model.embed_dims == RECIPE['embed']
    assert cfg.model.loss_rank.margin == RECIPE['margin']
    assert cfg.model.text_encoder.max_length == RECIPE['max_tokens']
    assert 'label_smooth_val' not in cfg.model.loss_id

    opt = cfg.optim_wrapper.optimizer
    assert opt.type == RECIPE['optimizer']
    assert tuple(opt.betas) == RECIPE['betas']
    assert opt.weight_decay == RECIPE['weight_decay']
    assert 'clip_grad' not in cfg.optim_wrapper
    assert cfg.optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper'

    assert cfg.train_cfg.max_epochs == RECIPE['epochs']
    (sched, ) = cfg.param_scheduler
    assert sched.type == 'MultiStepLR' and sched.gamma == RECIPE['gamma']
    assert [m + 1 for m in sched.milestones] == \
        list(RECIPE['decay_from_one_based'])
    assert cfg.randomness.seed == RECIPE['seed']

    loader = cfg.train_dataloader
    assert loader.batch_size == RECIPE['batch'] and loader.drop_last
    assert loader.sampler.type == 'DefaultSampler' and loader.sampler.shuffle
    steps = [t['type'] for t in loader.dataset.pipeline]
    assert steps == TRAIN_AUG  # no random erasing
    resize, crop = loader.dataset.pipeline[1], loader.dataset.pipeline[2]
    assert tuple(resize.scale) == RECIPE['size'][::-1]  # (w, h)
    assert resize.interpolation == 'bicubic'
    assert tuple(crop.crop_size) == RECIPE['size']
    assert crop.padding == RECIPE['pad']


@pytest.mark.parametrize('key', sorted(REPORTED_R1))
def test_no_checkpoint_is_selected_on_the_test_split(key):
    _, cfg = _config(key)
    best = cfg.default_hooks.get('checkpoint', {}).get('save_best')
    if cfg.val_dataloader.dataset.split == 'test':
        # ICFG-PEDES has no val split: the test split is logged as test and
        # nothing is selected on it.
        assert cfg.val_evaluator.prefix.endswith('_test')
        assert best is None
    else:
        assert cfg.val_dataloader.dataset.split == 'val'
        assert best == f'{cfg.val_evaluator.prefix}/R1'
    assert cfg.test_dataloader.dataset.split == 'test'


def test_optimizer_groups_give_the_vit_a_tenth_of_the_lr(tmp_path,
                                                         text_reid_tree):
    """4.3: image ViT 1e-4, every other trained part (BiLSTM, projection, ID
    classifier) 1e-3, no weight decay anywhere."""
    _, cfg = _config('cuhk-pedes')
    root = text_reid_tree('CUHKPEDES', tmp_path)
    model_cfg = cfg.model.copy()
    model_cfg.num_classes = 4
    model_cfg.image_backbone = dict(
        model_cfg.image_backbone, init_cfg=None,
        arch=dict(embed_dims=32, num_layers=1, num_heads=2,
                  feedforward_channels=64))
    model_cfg.feat_dims = 32
    model_cfg.text_encoder = dict(
        type='VocabBiLSTMTextEncoder',
        vocab_dataset=dict(type='CUHKPEDES', data_root=str(root), split='train'),
        embed_dims=8, lstm_dims=32, min_count=1)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(model_cfg)
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    lr_of = {}
    for group in wrapper.optimizer.param_groups:
        assert group['weight_decay'] == RECIPE['weight_decay']
        for param in group['params']:
            lr_of[id(param)] = group['lr']
    seen = {'vit': 0, 'rest': 0}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        part = 'vit' if name.startswith('image_backbone.') else 'rest'
        expected = RECIPE[f'lr_{part}']
        assert lr_of[id(param)] == pytest.approx(expected), name
        seen[part] += 1
    assert seen['vit'] > 0 and seen['rest'] > 0
    assert isinstance(wrapper.optimizer, torch.optim.Adam)
