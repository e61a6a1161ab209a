"""The 2-D pose configs follow the HAP release's recipes: every config is
loaded and compared with a table written from RELEASE_DOWNSTREAM.md 3.1-3.4
(not from the configs), every config builds and predicts heatmaps of its
size, the layer-wise lr decay is ViTPose's (14 ids, rate ** (13 - id)), and
configs/downstream/README.md maps each of the twelve reported numbers to
its configs."""
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / 'configs' / 'downstream' / 'pose'
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)

pytestmark = pytest.mark.usefixtures('keep_default_scope', 'one_torch_thread')

# RELEASE_DOWNSTREAM.md 3.3: input (h, w), heatmap (h, w), drop path,
# optimizer, lr, layer decay, wd, grad clip, batch per GPU, and per dataset
# (UDP, half-body probability or None)
RECIPES = {
    'td-hm_hapvit-b_8xb64-210e_coco-256x192.py':
    ((256, 192), (64, 48), 0.29, 'AdamW', 2e-4, 0.8, 0.1, 1.0, 64,
     dict(coco=(True, 0.3))),
    'td-hm_hapvit-b_8xb64-210e_coco-384x288.py':
    ((384, 288), (96, 72), 0.29, 'AdamW', 2e-4, 0.8, 0.1, 1.0, 64,
     dict(coco=(True, 0.3))),
    'td-hm_hapvit-b_8xb64-210e_mpii-256x192.py':
    ((256, 192), (64, 48), 0.3, 'Adam', 1e-4, None, 0.0, None, 64,
     dict(mpii=(True, None))),
    'td-hm_hapvit-b_8xb64-210e_mpii-384x288.py':
    ((384, 288), (96, 72), 0.3, 'Adam', 1e-4, None, 0.0, None, 64,
     dict(mpii=(True, None))),
    'td-hm_hapvit-b_8xb64-210e_aic-256x192.py':
    ((256, 192), (64, 48), 0.3, 'Adam', 5e-4, None, 0.0, None, 64,
     dict(aic=(False, 0.3))),
    'td-hm_hapvit-b_8xb64-210e_aic-384x288.py':
    ((384, 288), (96, 72), 0.3, 'Adam', 5e-4, None, 0.0, None, 64,
     dict(aic=(False, 0.3))),
    'td-hm_hapvit-moe-b_8xb128-210e_coco-aic-mpii-256x192.py':
    ((256, 192), (64, 48), 0.3, 'AdamW', 1.1e-3, 0.77, 0.1, 1.0, 128,
     dict(coco=(True, 0.3), aic=(False, 0.3), mpii=(True, None))),
    'td-hm_hapvit-moe-b_8xb64-210e_coco-aic-mpii-384x288.py':
    ((384, 288), (96, 72), 0.3, 'AdamW', 5e-4, 0.75, 0.1, 1.0, 64,
     dict(coco=(True, 0.3), aic=(False, 0.3), mpii=(True, None))),
}
DATASET_TYPES = dict(coco='CocoDataset', aic='AicDataset', mpii='MpiiDataset')
KEYPOINTS = dict(coco=17, aic=14, mpii=16)
# the release README: (dataset, size, training) -> reported number
REPORTED = {
    ('mpii', '256x192', 'single'): '91.8',
    ('mpii', '384x288', 'single'): '92.6',
    ('mpii', '256x192', 'multi'): '93.4',
    ('mpii', '384x288', 'multi'): '93.6',
    ('coco', '256x192', 'single'): '75.9',
    ('coco', '384x288', 'single'): '77.2',
    ('coco', '256x192', 'multi'): '77.0',
    ('coco', '384x288', 'multi'): '78.2',
    ('aic', '256x192', 'single'): '31.5',
    ('aic', '384x288', 'single'): '37.7',
    ('aic', '256x192', 'multi'): '32.2',
    ('aic', '384x288', 'multi'): '38.1',
}


def _step(pipeline, name):
    found = [t for t in pipeline if t['type'] == name]
    assert len(found) <= 1
    return found[0] if found else None


def _check_pipeline(pipeline, udp, half_body, input_hw, heatmap_hw, joints):
    """Flip, half-body, scale/rotation, (UDP) affine, padded target."""
    types = [t['type'] for t in pipeline]
    assert types[:3] == ['LoadImage', 'GetBBoxCenterScale', 'RandomFlip']
    hb = _step(pipeline, 'RandomHalfBody')
    if half_body is None:
        assert hb is None
    else:
        assert hb['prob'] == half_body
        assert types.index('RandomHalfBody') < types.index(
            'RandomBBoxTransform')
    bbox = _step(pipeline, 'RandomBBoxTransform')
    # scale factor 0.5 (0.5-1.5), rotation up to 80 degrees with p 0.6,
    # no shift (the release has none)
    assert bbox['scale_factor'] == (0.5, 1.5)
    assert bbox['rotate_factor'] == 80 and bbox['rotate_prob'] == 0.6
    assert bbox['shift_prob'] == 0
    assert _step(pipeline, 'TopdownAffine').get('use_udp', False) is udp
    encoder = _step(pipeline, 'GenerateTarget')['encoder']
    _check_codec(encoder, udp, input_hw, heatmap_hw)
    converter = _step(pipeline, 'KeypointConverter')
    if joints == 17:
        assert converter is None
    else:  # zero-padded to 17: joint i stays joint i, 3 empty channels
        # after flip / half-body (which use the dataset's own joints),
        # before the affine (whose output the target is made from)
        assert types.index('RandomBBoxTransform') < types.index(
            'KeypointConverter') < types.index('TopdownAffine')
        assert converter['num_keypoints'] == 17
        assert [tuple(m) for m in converter['mapping']] == [
            (i, i) for i in range(joints)
        ]
    return encoder


def _check_codec(codec, udp, input_hw, heatmap_hw):
    assert codec['type'] == ('UDPHeatmap' if udp else 'MSRAHeatmap')
    assert tuple(codec['input_size']) == input_hw[::-1]
    assert tuple(codec['heatmap_size']) == heatmap_hw[::-1]
    assert codec['sigma'] == 2
    assert codec.get('unbiased', False) is False


def _check_backbone(backbone, input_hw, drop_path, moe):
    assert backbone['type'] == ('mmpretrain.HAPViTMoE'
                                if moe else 'mmpretrain.HAPViT')
    assert backbone['arch'] == 'b' and backbone['patch_size'] == 16
    assert tuple(backbone['img_size']) == input_hw
    assert backbone['drop_path_rate'] == drop_path
    assert backbone['patch_cfg']['padding'] == 2
    assert backbone['with_cls_token'] is False
    assert backbone['load_final_norm'] is False  # fresh last norm
    assert backbone['init_cfg']['type'] == 'Pretrained'
    if moe:  # 3 experts of 192 (ViT-B fc2: 576 shared + 192)
        assert backbone['num_experts'] == 3
        assert backbone['part_features'] == 192


def _check_val(cfg, dataset, udp):
    val = cfg.val_dataloader.dataset
    assert val['type'] == DATASET_TYPES[dataset]
    assert _step(val['pipeline'], 'TopdownAffine').get('use_udp',
                                                       False) is udp
    evaluator = cfg.val_evaluator
    if dataset == 'coco':
        assert evaluator['type'] == 'CocoMetric'
        assert val['bbox_file'].endswith(
            '/COCO_val2017_detections_AP_H_56_person.json')
        assert val['ann_file'].endswith('person_keypoints_val2017.json')
    elif dataset == 'mpii':
        assert evaluator['type'] == 'MpiiPCKAccuracy'
        assert val['headbox_file'].endswith('mpii_gt_val.mat')
        assert val['ann_file'].endswith('mpii_val.json')
        assert 'bbox_file' not in val
    else:
        assert evaluator['type'] == 'CocoMetric'
        assert evaluator['use_area'] is False
        assert evaluator['ann_file'].endswith('aic_val.json')
        assert 'bbox_file' not in val  # ground-truth boxes
    assert cfg.test_dataloader == cfg.val_dataloader
    assert cfg.test_evaluator == cfg.val_evaluator


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_config_follows_the_release_recipe(name):
    (input_hw, heatmap_hw, drop_path, optimizer, lr, layer_decay, wd, clip,
     batch, datasets) = RECIPES[name]
    cfg = Config.fromfile(CONFIGS / name)
    moe = len(datasets) > 1
    assert f'_8xb{batch}-210e_' in name  # 8 GPUs, per-GPU batch, epochs

    # optimisation
    optim = cfg.optim_wrapper
    assert optim.optimizer['type'] == optimizer
    assert optim.optimizer['lr'] == lr
    assert tuple(optim.optimizer['betas']) == (0.9, 0.999)
    assert optim.optimizer['weight_decay'] == wd
    if layer_decay is None:
        assert 'paramwise_cfg' not in optim and 'constructor' not in optim
    else:
        assert optim.paramwise_cfg['layer_decay_rate'] == layer_decay
        assert optim.constructor == \
            'mmpretrain.HAPLayerDecayOptimWrapperConstructor'
    if clip is None:
        assert 'clip_grad' not in optim
    else:
        assert optim.clip_grad['max_norm'] == clip
    assert cfg.train_dataloader.batch_size == batch
    assert cfg.auto_scale_lr['base_batch_size'] == 8 * batch

    # schedule: 210 epochs, 500-iteration linear warm-up from 0.001, x0.1
    # at 170 and 200; validation and checkpoints every 10 epochs; the last
    # checkpoint is reported (no save_best on the reported split)
    assert cfg.train_cfg['max_epochs'] == 210
    assert cfg.train_cfg['val_interval'] == 10
    warmup, steps = cfg.param_scheduler
    assert warmup['type'] == 'LinearLR' and warmup['by_epoch'] is False
    assert (warmup['begin'], warmup['end']) == (0, 500)
    assert warmup['start_factor'] == 0.001
    assert steps['type'] == 'MultiStepLR' and steps['by_epoch'] is True
    assert list(steps['milestones']) == [170, 200]
    assert steps['gamma'] == 0.1 and steps['end'] == 210
    checkpoint = cfg.default_hooks['checkpoint']
    assert checkpoint['interval'] == 10
    assert checkpoint.get('save_best') is None

    # model
    model = cfg.model
    _check_backbone(model.backbone, input_hw, drop_path, moe)
    heads = [model.head, *model.get('aux_heads', [])]
    assert len(heads) == len(datasets)
    for head, (dataset, (udp, _)) in zip(heads, datasets.items()):
        assert head['type'] == 'HeatmapHead'
        assert head['out_channels'] == (17 if moe else KEYPOINTS[dataset])
        assert tuple(head['deconv_out_channels']) == (256, 256)
        assert tuple(head['deconv_kernel_sizes']) == (4, 4)
        assert head['loss'] == dict(type='KeypointMSELoss',
                                    use_target_weight=True)
        _check_codec(head['decoder'], udp, input_hw, heatmap_hw)
    first_udp = next(iter(datasets.values()))[0]
    assert model.test_cfg['flip_test'] is True
    assert model.test_cfg['flip_mode'] == 'heatmap'
    # UDP: DARK-UDP decoding without heatmap shift; AIC: shifted flip
    assert model.test_cfg['shift_heatmap'] is (not first_udp)

    # data
    train = cfg.train_dataloader
    assert train.sampler == dict(type='DefaultSampler', shuffle=True)
    if moe:
        assert model['type'] == 'TopdownMoEPoseEstimator'
        assert tuple(model['dataset_names']) == tuple(datasets)
        assert tuple(model['num_keypoints']) == tuple(
            KEYPOINTS[d] for d in datasets)
        # concatenated; sampling proportional to size (no ratios)
        assert train.dataset['type'] == 'CombinedDataset'
        assert 'sample_ratio_factor' not in train.dataset
        assert [t['type'] for t in train.dataset['pipeline']] == [
            'PackPoseInputs'
        ]
        subsets = train.dataset['datasets']
        assert [s['type'] for s in subsets] == [
            DATASET_TYPES[d] for d in datasets
        ]
        for subset, (dataset, (udp, half_body)) in zip(subsets,
                                                       datasets.items()):
            _check_pipeline(subset['pipeline'], udp, half_body, input_hw,
                            heatmap_hw, KEYPOINTS[dataset])
        _check_val(cfg, 'coco', True)  # COCO val only, as the release
    else:
        (dataset, (udp, half_body)), = datasets.items()
        assert model['type'] == 'TopdownPoseEstimator'
        assert train.dataset['type'] == DATASET_TYPES[dataset]
        pipeline = train.dataset['pipeline']
        assert pipeline[-1]['type'] == 'PackPoseInputs'
        encoder = _check_pipeline(pipeline, udp, half_body, input_hw,
                                  heatmap_hw, 17)
        assert encoder == model.head['decoder']
        _check_val(cfg, dataset, udp)

    # the config builds (tiny ViT) and predicts heatmaps of its size
    from mmpose.registry import MODELS
    model.backbone.update(arch=TINY, init_cfg=None)
    if moe:
        model.backbone.part_features = 8
    for head in heads:
        head.update(in_channels=TINY['embed_dims'], deconv_out_channels=(8, 8))
    with DefaultScope.overwrite_default_scope('mmpose'):
        estimator = MODELS.build(model)
    estimator.eval()
    with torch.no_grad():
        out = estimator._forward(torch.zeros(1, 3, *input_hw))
    assert out.shape == (1, heads[0]['out_channels'], *heatmap_hw)


def _vitpose_layer_id(name: str) -> int:
    """RELEASE_DOWNSTREAM.md 3.3: patch_embed / pos_embed 0, block i ->
    i + 1, everything else 13."""
    if name.startswith(('backbone.patch_embed', 'backbone.pos_embed')):
        return 0
    block = re.match(r'backbone\.layers\.(\d+)\.', name)
    return int(block.group(1)) + 1 if block else 13


@pytest.mark.parametrize('name', [
    'td-hm_hapvit-b_8xb64-210e_coco-256x192.py',
    'td-hm_hapvit-moe-b_8xb128-210e_coco-aic-mpii-256x192.py',
])
def test_layer_decay_lrs_follow_vitpose(name):
    """The full ViT-B: lr = base * rate ** (13 - id) over 14 ids; no
    weight decay for 1-D parameters, biases and pos_embed."""
    from mmpose.registry import MODELS
    _, _, _, _, base_lr, rate, wd, _, _, _ = RECIPES[name]
    cfg = Config.fromfile(CONFIGS / name)
    cfg.model.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg.model)
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
    groups = {}
    for group in optim.optimizer.param_groups:
        for param in group['params']:
            assert id(param) not in groups
            groups[id(param)] = group
    named = dict(model.named_parameters())
    assert set(groups) == {id(p) for p in named.values()}
    ids = set()
    for pname, param in named.items():
        layer_id = _vitpose_layer_id(pname)
        ids.add(layer_id)
        group = groups[id(param)]
        assert group['lr'] == pytest.approx(base_lr * rate**(13 - layer_id),
                                            rel=1e-9), pname
        no_decay = (param.ndim == 1 or pname.endswith('.bias')
                    or pname.endswith('pos_embed'))
        assert group['weight_decay'] == (0.0 if no_decay else wd), pname
    assert ids == set(range(14))
    assert 'backbone.cls_token' not in named
    if 'moe' in name:  # the experts decay with their block
        expert = 'backbone.layers.11.ffn.layers.1.experts.2.weight'
        assert groups[id(named[expert])]['lr'] == pytest.approx(base_lr *
                                                                rate)


def test_readme_maps_the_twelve_reported_pose_numbers_to_configs():
    readme = (REPO / 'configs' / 'downstream' / 'README.md').read_text()
    rows = [line for line in readme.splitlines()
            if line.startswith('| 2-D pose |')]
    for (dataset, size, training), number in REPORTED.items():
        single = f'td-hm_hapvit-b_8xb64-210e_{dataset}-{size}.py'
        multi = ('td-hm_hapvit-moe-b_8xb{}-210e_coco-aic-mpii-{}.py'.format(
            128 if size == '256x192' else 64, size))
        needed = [single] if training == 'single' else [multi]
        if training == 'multi' and dataset != 'coco':
            needed.append(single)  # split_moe.py output tested with it
        match = [
            r for r in rows
            if f'| {number} ' in r and f'| {size} |' in r and
            f'| {training}-dataset |' in r and all(n in r for n in needed)
        ]
        assert len(match) == 1, (dataset, size, training, number)
        for config in needed:
            assert (CONFIGS / config).is_file()
    assert len(rows) == 12
