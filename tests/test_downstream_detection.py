"""HAP backbones in stock mmdet: the simple feature pyramid, and the real
CrowdHuman Cascade R-CNN config, shrunk to a tiny ViT, training two
iterations on a tiny CrowdHuman set (an .odgt made from the person boxes of
mmpose's COCO test images) and evaluated by mmdet's CrowdHumanMetric,
starting from a converted HAP checkpoint."""
import json
import shutil
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from hap_mm.integrations import SimpleFeaturePyramid
from hap_mm.models import HAPViT

REPO = Path(__file__).resolve().parents[1]
CONFIG = (REPO / 'configs' / 'downstream' / 'detection' /
          'cascade-rcnn_hapvit-b-sfp_8xb2-30e_crowdhuman.py')
COCO = Path(__file__).parent / 'data' / 'pose' / 'coco'
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
SCALE = (320, 224)  # (W, H) instead of (1400, 800)

pytestmark = pytest.mark.usefixtures('keep_default_scope', 'one_torch_thread')


# ------------------------------------------------------------ checkpoint
@pytest.fixture(scope='module')
def hap_release(release_checkpoint):
    """A tiny HAP release-layout checkpoint, converted with the position
    embedding resized to the detector's grid now (--img-size); returns the
    file and the encoder tensors (mmpretrain names) it was made from."""
    checkpoint, encoder, report = release_checkpoint(
        TINY, seed=5, img_size=SCALE[::-1])
    assert report['meta']['grid'] == [14, 20]
    return checkpoint, encoder


# ------------------------------------------------------------ data
def build_crowdhuman(root: Path) -> int:
    """CrowdHuman layout (Images/<ID>.jpg, annotation_{train,val}.odgt)
    from mmpose's COCO test images: a person box with keypoints becomes a
    full-body box ('fbox', tag 'person'); one without any becomes an ignore
    region (tag 'mask'), as CrowdHuman marks crowds. Returns the number of
    person boxes."""
    coco = json.loads((COCO / 'test_coco.json').read_text())
    (root / 'Images').mkdir(parents=True)
    lines, persons = [], 0
    for image in coco['images']:
        shutil.copy(COCO / image['file_name'], root / 'Images')
        boxes = []
        for i, ann in enumerate(a for a in coco['annotations']
                                if a['image_id'] == image['id']):
            box = [round(v) for v in ann['bbox']]
            person = ann['num_keypoints'] > 0
            persons += person
            head = [box[0] + box[2] // 3, box[1], box[2] // 3, box[3] // 7]
            boxes.append({
                'tag': 'person' if person else 'mask',
                'fbox': box, 'vbox': box, 'hbox': head,
                'extra': {'box_id': i, 'occ': 0},
                'head_attr': {'ignore': 0, 'occ': 0, 'unsure': 0},
            })
        lines.append(json.dumps({'ID': Path(image['file_name']).stem,
                                 'gtboxes': boxes}))
    for split in ('train', 'val'):
        (root / f'annotation_{split}.odgt').write_text('\n'.join(lines) + '\n')
    return persons


def tiny_config(folder: Path, checkpoint: Path) -> Config:
    """The real config with sizes shrunk: 2-layer 32-dim ViT, 32-channel
    pyramid and heads, images at most 320x224, batch 2, one epoch of the 4
    images (2 iterations), 100 boxes per image at test time, 2 JI
    processes, no worker processes; data and checkpoint paths point at the
    test files."""
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = str(folder / 'work')
    root = folder / 'CrowdHuman'
    model = cfg.model
    model.backbone.update(arch=TINY, img_size=SCALE[::-1])
    model.backbone.init_cfg.checkpoint = str(checkpoint)
    model.neck.update(in_channels=TINY['embed_dims'], out_channels=32)
    model.rpn_head.update(in_channels=32, feat_channels=32)
    model.roi_head.bbox_roi_extractor.out_channels = 32
    for head in model.roi_head.bbox_head:
        head.update(in_channels=32, fc_out_channels=64)
    model.test_cfg.rpn.update(nms_pre=200, max_per_img=100)
    model.test_cfg.rcnn.max_per_img = 100
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[key]
        loader.update(num_workers=0, persistent_workers=False)
        loader.dataset.data_root = f'{root}/'
        for step in loader.dataset.pipeline:
            if step.type == 'Resize':
                step.scale = SCALE
    for key in ('val_evaluator', 'test_evaluator'):
        cfg[key].update(ann_file=str(root / 'annotation_val.odgt'),
                        num_ji_process=2)
    cfg.train_cfg.update(max_epochs=1, val_interval=1)
    return cfg


# ------------------------------------------------------------ tests
def test_hap_modules_resolve_from_mmdet_registries():
    from mmdet.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

    from hap_mm.integrations import HAPLayerDecayOptimWrapperConstructor
    assert MODELS.get('mmpretrain.HAPViT') is HAPViT
    assert MODELS.get('mmpretrain.SimpleFeaturePyramid') is \
        SimpleFeaturePyramid
    assert OPTIM_WRAPPER_CONSTRUCTORS.get(
        'mmpretrain.HAPLayerDecayOptimWrapperConstructor'
    ) is HAPLayerDecayOptimWrapperConstructor


def test_simple_feature_pyramid_strides_and_channels():
    neck = SimpleFeaturePyramid(in_channels=32, out_channels=8)
    neck.init_weights()
    outs = neck((torch.randn(2, 32, 6, 10), ))  # a stride-16 map of 96x160
    assert [tuple(o.shape) for o in outs] == [(2, 8, 24, 40), (2, 8, 12, 20),
                                              (2, 8, 6, 10), (2, 8, 3, 5),
                                              (2, 8, 2, 3)]
    outs[0].sum().backward()
    # BN instead of the channel LayerNorm; no P6
    neck = SimpleFeaturePyramid(32, 8, num_outs=4, norm_cfg=dict(type='BN'))
    assert len(neck(torch.randn(2, 32, 6, 10))) == 4
    with pytest.raises(ValueError, match='scale factor 3'):
        SimpleFeaturePyramid(32, 8, scale_factors=(3.0, ))


def test_layer_decay_lrs_in_the_detector(layer_decay_groups):
    from mmdet.registry import MODELS
    cfg = Config.fromfile(CONFIG)
    cfg.model.backbone.update(arch=TINY, img_size=(64, 64), init_cfg=None)
    cfg.model.neck.in_channels = TINY['embed_dims']
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
    rate = cfg.optim_wrapper.paramwise_cfg.layer_decay_rate
    assert rate == 0.7
    # the final norm, pyramid, RPN and RoI heads get the full lr
    params = layer_decay_groups(model, optim, 1e-4, rate, TINY['num_layers'])
    for name, (param, group) in params.items():
        no_decay = param.ndim == 1 or name.endswith(('pos_embed', 'cls_token'))
        assert group['weight_decay'] == (0.0 if no_decay else 0.1), name


def test_layer_decay_constructor_finds_the_vit_or_says_which_to_pick():
    from torch import nn

    from hap_mm.integrations import HAPLayerDecayOptimWrapperConstructor

    class TwoViTs(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = HAPViT(arch=TINY, pos_embed_type='learned')
            self.teacher = HAPViT(arch=TINY)  # fixed sin-cos pos_embed
            self.head = nn.Linear(32, 2)

    optim_cfg = dict(optimizer=dict(type='SGD', lr=1.0, weight_decay=1.0))
    model = TwoViTs()
    with pytest.raises(ValueError, match="'backbone', 'teacher'"):
        HAPLayerDecayOptimWrapperConstructor(
            optim_cfg, dict(layer_decay_rate=0.5))(model)
    with pytest.raises(TypeError, match='no sub-module with get_layer_depth'):
        HAPLayerDecayOptimWrapperConstructor(optim_cfg)(nn.Linear(2, 2))

    wrapper = HAPLayerDecayOptimWrapperConstructor(
        optim_cfg,
        dict(layer_decay_rate=0.5, backbone='teacher',
             custom_keys={'head': dict(lr_mult=0.1, decay_mult=0.5)}))(model)
    groups = {id(p): g for g in wrapper.optimizer.param_groups
              for p in g['params']}
    assert id(model.teacher.pos_embed) not in groups  # requires_grad=False
    assert groups[id(model.teacher.cls_token)]['lr'] == 0.5**3
    assert groups[id(model.teacher.layers[1].attn.qkv.weight)]['lr'] == 0.5
    # 'backbone' is not the decayed ViT here: everything at depth L + 1
    assert groups[id(model.backbone.patch_embed.projection.weight)][
        'lr'] == 1.0
    head = groups[id(model.head.weight)]
    assert head['lr'] == pytest.approx(0.1)
    assert head['weight_decay'] == 0.5
    assert groups[id(model.head.bias)]['weight_decay'] == 0.0

    # no paramwise_cfg: no decay, but no weight decay on norms / tokens
    plain = HAPLayerDecayOptimWrapperConstructor(optim_cfg)(
        HAPViT(arch=TINY, pos_embed_type='learned'))
    lrs = {g['lr'] for g in plain.optimizer.param_groups}
    decays = {g['weight_decay'] for g in plain.optimizer.param_groups}
    assert lrs == {1.0} and decays == {0.0, 1.0}


def test_crowdhuman_config_trains_from_hap_checkpoint_and_evaluates(
        relative_hap_release, build_runner, backbone_at_start):
    checkpoint, encoder = relative_hap_release
    build_crowdhuman(Path('CrowdHuman'))
    cfg = tiny_config(Path('.'), checkpoint)
    runner = build_runner(cfg)
    start = backbone_at_start(checkpoint)
    runner.register_hook(start)
    runner.train()
    assert runner.iter == 2

    # the HAP checkpoint, exactly (pos_embed resized by the converter)
    assert start.load_report == ([], [])
    assert set(start.state) == set(encoder)
    converted = torch.load(checkpoint, weights_only=True)['state_dict']
    for key, value in encoder.items():
        if key == 'pos_embed':
            value = converted['backbone.pos_embed']
            assert value.shape == (1, 1 + 14 * 20, 32)
            assert torch.equal(value[:, 0], encoder[key][:, 0])  # CLS
        assert torch.equal(start.state[key], value), key

    val = runner.message_hub.get_info('best_score')  # crowd_human/mAP
    assert val is not None and 0.0 <= val <= 1.0

    test_cfg = cfg.copy()
    test_cfg.work_dir = 'test'
    test_cfg.load_from = 'work/epoch_1.pth'
    metrics = build_runner(test_cfg).test()
    assert set(metrics) == {'crowd_human/mAP', 'crowd_human/mMR',
                            'crowd_human/JI'}
    assert metrics['crowd_human/mAP'] == pytest.approx(val)
    assert 0.0 <= metrics['crowd_human/mMR'] <= 1.0
