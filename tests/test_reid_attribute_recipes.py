"""The ReID and attribute configs follow the HAP release's recipes.

The tables below are written from /work/shared/docs/RELEASE_DOWNSTREAM.md
(sections 1, 2, 6 and 8), not from the configs; each config is loaded with
mmengine and compared with them. The layer-decay lrs of the ReID optimizer
are checked against the release's formula on the real ViT-B model."""
import re
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

import hap_mm  # noqa: F401  (registers the hap_mm modules)

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / 'configs' / 'downstream'

# ---------------------------------------------------------------- ReID (1)
# (dataset, model, input height) -> mAP reported by the release's README.
REID_REPORTED = {
    ('market1501', 'vit', 256): 91.7, ('market1501', 'vit', 384): 91.9,
    ('market1501', 'lem', 256): 93.8, ('market1501', 'lem', 384): 93.9,
    ('msmt17', 'vit', 256): 76.4, ('msmt17', 'vit', 384): 76.8,
    ('msmt17', 'lem', 256): 78.0, ('msmt17', 'lem', 384): 78.1,
}
REID_CLASSES = {'market1501': 751, 'msmt17': 1041}
REID = dict(
    optimizer='AdamW', lr=8e-3, betas=(0.9, 0.999), weight_decay=0.05,
    layer_decay_rate=0.4, epochs=100, warmup_epochs=5, gpus=1, batch=64,
    ids=8, instances=8, drop_path=0.1, width=128, id_weight=0.5,
    triplet_weight=0.5, triplet_margin=None, eval_every=10, seed=0)
REID_TRAIN_AUG = ['LoadImageFromFile', 'Resize', 'RandomFlip', 'RandomCrop',
                  'RandomErasing', 'PackInputs']
# ---------------------------------------------------------- attributes (2)
PAR = {
    'pa100k': dict(lr=1.7e-4, epochs=55, warmup=5.5, ema=0.9998,
                   attributes=26, reported=86.54),
    'rapv1': dict(lr=2.4e-4, epochs=8, warmup=0.8, ema=None, attributes=51,
                  reported=82.91),
    'peta': dict(lr=1.9e-4, epochs=50, warmup=5.0, ema=None, attributes=35,
                 reported=88.36),
}
PAR_COMMON = dict(
    optimizer='AdamW', betas=(0.9, 0.999), eps=1e-8, weight_decay=5e-4,
    clip=10.0, lr_min=1e-5, warmup_lr_init=1e-4, gpus=8, batch=8,
    size=(256, 192), drop_path=0.0, seed=605)
PAR_TRAIN_AUG = ['LoadImageFromFile', 'Resize', 'RandomCrop', 'RandomFlip',
                 'PackInputs']


def _reid_name(ds, model, height):
    arch = 'hapvit-b' if model == 'vit' else 'hapvit-b-lem'
    return f'reid/{arch}_1xb64-100e_{ds}-{height}x128.py'


def _par_name(key):
    return f'attribute/hapvit-b_8xb8-{PAR[key]["epochs"]}e_{key}-256x192.py'


def _types(pipeline):
    return [step['type'] for step in pipeline]


def _step(pipeline, name):
    return next(step for step in pipeline if step['type'] == name)


def _name_says(name, gpus, batch, epochs):
    match = re.search(r'_(\d+)xb(\d+)-(\d+)e_', name)
    assert match, name
    assert tuple(map(int, match.groups())) == (gpus, batch, epochs), name


def _header_number(path: Path) -> float:
    header = ''.join(
        line for line in path.read_text().splitlines(keepends=True)
        if line.startswith('#'))
    match = re.search(r'reported by the HAP release: (\d+(?:\.\d+)?)', header)
    assert match, f'{path}: no reported number in the header'
    return float(match.group(1))


def test_every_reported_number_has_one_config_named_in_the_readme():
    readme = (CONFIGS / 'README.md').read_text()
    names = [_reid_name(*key) for key in REID_REPORTED]
    names += [_par_name(key) for key in PAR]
    assert len(names) == 11
    for name in names:
        assert (CONFIGS / name).is_file(), name
        assert name in readme, name


@pytest.mark.parametrize('key', list(REID_REPORTED))
def test_reid_config_follows_the_release(key):
    ds, model, height = key
    name = _reid_name(*key)
    _name_says(name, REID['gpus'], REID['batch'], REID['epochs'])
    assert _header_number(CONFIGS / name) == REID_REPORTED[key]
    cfg = Config.fromfile(CONFIGS / name)

    optim = cfg.optim_wrapper
    assert optim.type == 'AmpOptimWrapper'  # autocast + GradScaler
    assert optim.get('clip_grad') is None
    assert optim.optimizer.type == REID['optimizer']
    assert optim.optimizer.lr == REID['lr']
    assert tuple(optim.optimizer.betas) == REID['betas']
    assert optim.optimizer.weight_decay == REID['weight_decay']
    assert optim.paramwise_cfg.layer_decay_rate == REID['layer_decay_rate']
    assert cfg.get('auto_scale_lr') is None  # absolute lr

    warmup, cosine = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and warmup.convert_to_iter_based
    assert (warmup.begin, warmup.end) == (0, REID['warmup_epochs'])
    assert warmup.start_factor < 1e-3  # from ~0
    assert cosine.type == 'CosineAnnealingLR' and cosine.convert_to_iter_based
    assert (cosine.begin, cosine.end) == (REID['warmup_epochs'],
                                          REID['epochs'])
    assert cosine.T_max == REID['epochs'] - REID['warmup_epochs']
    assert cosine.eta_min == 0
    assert cfg.train_cfg.max_epochs == REID['epochs']
    assert cfg.train_cfg.val_interval == REID['eval_every']
    assert cfg.randomness.seed == REID['seed']

    loader = cfg.train_dataloader
    assert loader.batch_size == REID['batch']
    assert loader.sampler.type == 'IdentityBalancedSampler'
    assert loader.sampler.batch_size == REID['batch']
    assert loader.sampler.batch_size // loader.sampler.num_instances == \
        REID['ids']
    assert loader.sampler.num_instances == REID['instances']

    size = (height, REID['width'])
    train, test = loader.dataset.pipeline, cfg.test_dataloader.dataset.pipeline
    assert _types(train) == REID_TRAIN_AUG
    resize = _step(train, 'Resize')
    assert tuple(resize.scale) == size[::-1]
    assert resize.interpolation == 'bicubic'
    assert _step(train, 'RandomFlip').prob == 0.5
    crop = _step(train, 'RandomCrop')
    assert tuple(crop.crop_size) == size and crop.padding == 10
    assert crop.get('pad_val', 0) == 0
    erase = _step(train, 'RandomErasing')
    assert erase.erase_prob == 0.5
    assert (erase.min_area_ratio, erase.max_area_ratio) == pytest.approx(
        (0.02, 1 / 3))
    assert tuple(erase.aspect_range) == pytest.approx((0.3, 1 / 0.3))
    assert erase.mode == 'rand' and erase.fill_std is not None  # per pixel
    assert _types(test) == ['LoadImageFromFile', 'Resize', 'PackInputs']
    assert tuple(_step(test, 'Resize').scale) == size[::-1]
    assert _step(test, 'Resize').interpolation == 'bicubic'

    backbone, head = cfg.model.backbone, cfg.model.head
    assert tuple(backbone.img_size) == size
    assert backbone.drop_path_rate == REID['drop_path']
    assert backbone.pos_embed_type == 'learned'
    assert head.num_classes == REID_CLASSES[ds]
    assert head.loss_id.type == 'CrossEntropyLoss'  # no label smoothing
    assert head.loss_id.get('label_smooth_val') is None
    assert head.loss_id.loss_weight == REID['id_weight']
    assert head.loss_triplet.type == 'HardMiningTripletLoss'
    assert head.loss_triplet.margin is REID['triplet_margin']  # soft margin
    assert head.loss_triplet.loss_weight == REID['triplet_weight']
    if model == 'vit':
        assert cfg.model.neck is None and not head.bnneck
        assert tuple(head.in_channels) == (768, )
    else:
        assert backbone.type == 'HAPViTForLEM'
        neck = cfg.model.neck
        assert neck.type == 'LocalityEnhancedModule'
        assert (neck.in_channels, neck.out_channels, neck.num_blocks,
                neck.stride) == (768, 1536, 3, 2)
        assert head.bnneck and tuple(head.in_channels) == (768, 1536)

    # model selection: none on the test split; evaluated and logged as test
    assert 'save_best' not in cfg.default_hooks.checkpoint
    assert cfg.val_evaluator.type == 'ReIDMetric'
    assert cfg.val_evaluator.prefix == 'reid_test'


@pytest.mark.parametrize('key', list(PAR))
def test_attribute_config_follows_the_release(key):
    name, recipe = _par_name(key), PAR[key]
    _name_says(name, PAR_COMMON['gpus'], PAR_COMMON['batch'],
               recipe['epochs'])
    assert _header_number(CONFIGS / name) == recipe['reported']
    cfg = Config.fromfile(CONFIGS / name)

    optim = cfg.optim_wrapper
    assert optim.get('type', 'OptimWrapper') == 'OptimWrapper'  # fp32
    assert optim.clip_grad.max_norm == PAR_COMMON['clip']
    assert optim.optimizer.type == PAR_COMMON['optimizer']
    assert optim.optimizer.lr == recipe['lr']
    assert tuple(optim.optimizer.betas) == PAR_COMMON['betas']
    assert optim.optimizer.eps == PAR_COMMON['eps']
    assert optim.optimizer.weight_decay == PAR_COMMON['weight_decay']
    assert optim.get('paramwise_cfg') is None  # wd everywhere, no LD
    assert optim.get('constructor') is None
    assert cfg.get('auto_scale_lr') is None

    sched = cfg.param_scheduler
    assert sched.type == 'TimmCosineLR' and sched.by_epoch
    assert sched.t_initial == recipe['epochs']
    assert sched.warmup_t == pytest.approx(0.1 * recipe['epochs'])
    assert sched.warmup_t == recipe['warmup']
    assert sched.lr_min == PAR_COMMON['lr_min']
    assert sched.warmup_lr_init == PAR_COMMON['warmup_lr_init']
    assert sched.warmup_prefix is False
    assert cfg.train_cfg.max_epochs == recipe['epochs']
    assert cfg.train_cfg.val_interval == 1
    assert cfg.randomness.seed == PAR_COMMON['seed']

    ema = [h for h in cfg.custom_hooks if h['type'] == 'EMAHook']
    if recipe['ema'] is None:
        assert not ema
    else:
        assert len(ema) == 1
        assert ema[0].momentum == pytest.approx(1 - recipe['ema'])
    assert any(h['type'] == 'PositiveRatioHook' for h in cfg.custom_hooks)

    loader = cfg.train_dataloader
    assert loader.batch_size == PAR_COMMON['batch']
    assert loader.dataset.split == 'trainval'
    assert cfg.test_dataloader.dataset.split == 'test'
    size = PAR_COMMON['size']
    train, test = loader.dataset.pipeline, cfg.test_dataloader.dataset.pipeline
    assert _types(train) == PAR_TRAIN_AUG
    assert tuple(_step(train, 'Resize').scale) == size[::-1]
    assert _step(train, 'Resize').get('interpolation',
                                      'bilinear') == 'bilinear'
    crop = _step(train, 'RandomCrop')
    assert tuple(crop.crop_size) == size and crop.padding == 10
    assert _step(train, 'RandomFlip').prob == 0.5
    assert _types(test) == ['LoadImageFromFile', 'Resize', 'PackInputs']

    backbone, head = cfg.model.backbone, cfg.model.head
    assert tuple(backbone.img_size) == size
    assert backbone.drop_path_rate == PAR_COMMON['drop_path']
    assert backbone.out_type == 'featmap'  # patch tokens after the LN
    assert cfg.model.neck.type == 'GlobalAveragePooling'  # no CLS
    assert head.type == 'MultiLabelLinearClsHead'
    assert head.init_cfg is None  # PyTorch default Linear init
    assert head.num_classes == recipe['attributes']
    assert head.loss.type == 'PositiveRatioBCELoss'
    assert head.loss.num_classes == recipe['attributes']

    assert 'save_best' not in cfg.default_hooks.checkpoint
    assert cfg.val_evaluator.prefix == 'attribute_test'


@pytest.mark.usefixtures('keep_default_scope')
@pytest.mark.parametrize('model_kind', ['vit', 'lem'])
def test_reid_layer_decay_lrs_follow_the_release_formula(model_kind):
    """RELEASE_DOWNSTREAM.md 1.4: 13 ids, lr x 0.4^(13 - id); patch_embed
    id 0, block i id i + 1, everything else id 13."""
    cfg = Config.fromfile(CONFIGS / _reid_name('msmt17', model_kind, 256))
    cfg.model.backbone.init_cfg = None
    cfg.optim_wrapper.type = 'OptimWrapper'  # AMP needs an accelerator
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
    group_of = {}
    for group in optim.optimizer.param_groups:
        for param in group['params']:
            group_of[id(param)] = group
    params = dict(model.named_parameters())
    base = 8e-3

    def lr(name):
        return group_of[id(params[name])]['lr']

    def wd(name):
        return group_of[id(params[name])]['weight_decay']

    assert lr('backbone.patch_embed.projection.weight') == pytest.approx(
        base * 0.4**13)
    assert lr('backbone.cls_token') == pytest.approx(base * 0.4**13)
    assert lr('backbone.pos_embed') == pytest.approx(base * 0.4**13)
    assert lr('backbone.layers.0.attn.qkv.weight') == pytest.approx(
        base * 0.4**12)
    assert lr('backbone.layers.11.ffn.layers.1.weight') == pytest.approx(
        base * 0.4)
    assert lr('backbone.ln1.weight') == pytest.approx(base)
    assert lr('head.classifiers.0.weight') == pytest.approx(base)
    # no weight decay on 1-D parameters, pos_embed and cls_token
    assert wd('backbone.layers.3.attn.qkv.weight') == 0.05
    assert wd('head.classifiers.0.weight') == 0.05
    for name in ('backbone.cls_token', 'backbone.pos_embed',
                 'backbone.layers.3.ln1.weight', 'backbone.layers.3.attn.'
                 'qkv.bias', 'head.classifiers.0.bias'):
        assert wd(name) == 0.0, name
    if model_kind == 'lem':
        assert lr('neck.blocks.0.conv1.weight') == pytest.approx(base)
        assert lr('neck.norm.weight') == pytest.approx(base)
        assert wd('neck.blocks.2.conv3.weight') == 0.05
        assert wd('neck.blocks.0.bn1.weight') == 0.0
        assert lr('head.classifiers.1.weight') == pytest.approx(base)
        # frozen BNNeck shifts are left out of the optimizer
        for bn in model.head.necks:
            assert id(bn.bias) not in group_of
            assert group_of[id(bn.weight)]['weight_decay'] == 0.0
    assert set(group_of) == {
        id(p) for p in model.parameters() if p.requires_grad}


@pytest.mark.usefixtures('keep_default_scope')
def test_attribute_optimizer_decays_every_parameter_without_layer_decay():
    cfg = Config.fromfile(CONFIGS / _par_name('pa100k'))
    cfg.model.backbone.update(
        init_cfg=None,
        arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                  feedforward_channels=64))
    cfg.model.head.in_channels = 32
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
    seen = set()
    for group in optim.optimizer.param_groups:
        assert group['lr'] == PAR['pa100k']['lr']
        assert group['weight_decay'] == PAR_COMMON['weight_decay']
        seen |= {id(p) for p in group['params']}
    assert seen == {id(p) for p in model.parameters() if p.requires_grad}
    assert id(model.backbone.pos_embed) in seen
    assert optim.clip_grad_kwargs['max_norm'] == PAR_COMMON['clip']
