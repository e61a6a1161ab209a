"""HAP backbones in stock mmseg: the real LIP UPerNet config, shrunk to a
tiny ViT, trains two iterations on a tiny LIP-format set (person crops of
mmpose's COCO test images, label maps drawn from their keypoint skeletons)
and is evaluated by mmseg's IoUMetric, starting from a converted HAP
checkpoint."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.models.utils import resize_pos_embed

from hap_mm.models import HAPViT

REPO = Path(__file__).resolve().parents[1]
CONFIG = (REPO / 'configs' / 'downstream' / 'parsing' /
          'upernet_hapvit-b_8xb4-80k_lip-480x480.py')
COCO = Path(__file__).parent / 'data' / 'pose' / 'coco'
# 4 layers so that out_indices can name four different ones
TINY = dict(embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=64)
CROP = (128, 128)

# LIP classes drawn from COCO keypoints: (label, [(kpt, kpt), ...], width
# as a fraction of the person's height)
FACE, UPPER_CLOTHES, PANTS = 13, 5, 9
LIMBS = [
    (14, [(5, 7), (7, 9)], 0.06),  # left arm
    (15, [(6, 8), (8, 10)], 0.06),  # right arm
    (16, [(11, 13), (13, 15)], 0.08),  # left leg
    (17, [(12, 14), (14, 16)], 0.08),  # right leg
]
SHOES = [(18, 15), (19, 16)]  # left / right shoe at the ankles

pytestmark = pytest.mark.usefixtures('keep_default_scope', 'one_torch_thread')


# ------------------------------------------------------------ checkpoint
@pytest.fixture(scope='module')
def hap_release(release_checkpoint):
    """A tiny HAP release-layout checkpoint, converted; returns the file
    and the encoder tensors (mmpretrain names) it was made from."""
    checkpoint, encoder, _ = release_checkpoint(TINY, seed=11)
    return checkpoint, encoder


# ------------------------------------------------------------ data
def _draw_label(kpts: np.ndarray, shape: tuple, height: float) -> np.ndarray:
    """A LIP label map (0 background) drawn from 17 COCO keypoints (x, y,
    v) in crop pixels: face disc, upper clothes (shoulders-hips polygon),
    pants (hips-knees), limbs as thick lines, shoes at the ankles."""
    label = np.zeros(shape, np.uint8)
    xy = kpts[:, :2].round().astype(np.int32)
    seen = kpts[:, 2] > 0

    def width(frac):
        return max(2, int(frac * height))

    if seen[[5, 6, 11, 12]].all():
        cv2.fillPoly(label, [xy[[5, 6, 12, 11]]], UPPER_CLOTHES)
    if seen[[11, 12, 13, 14]].all():
        cv2.fillPoly(label, [xy[[11, 12, 14, 13]]], PANTS)
    for cls, segments, frac in LIMBS:
        for a, b in segments:
            if seen[a] and seen[b]:
                cv2.line(label, tuple(map(int, xy[a])), tuple(map(int, xy[b])),
                         cls, width(frac))
    for cls, ankle in SHOES:
        if seen[ankle]:
            cv2.circle(label, tuple(map(int, xy[ankle])), width(0.03), cls, -1)
    head = [i for i in range(5) if seen[i]]
    if head:
        center = xy[head].mean(0).astype(int)
        cv2.circle(label, tuple(map(int, center)), width(0.07), FACE, -1)
    return label


def build_lip(root: Path) -> dict:
    """LIP layout (train_images/, train_segmentations/, val_images/,
    val_segmentations/) from the COCO test persons with >= 10 keypoints:
    the first 4 train, the next 2 validate. Returns {split: [stem, ...]}."""
    coco = json.loads((COCO / 'test_coco.json').read_text())
    files = {img['id']: img['file_name'] for img in coco['images']}
    persons = [a for a in coco['annotations'] if a['num_keypoints'] >= 10]
    splits = {'train': persons[:4], 'val': persons[4:6]}
    for split, anns in splits.items():
        (root / f'{split}_images').mkdir(parents=True)
        (root / f'{split}_segmentations').mkdir(parents=True)
        for ann in anns:
            image = cv2.imread(str(COCO / files[ann['image_id']]))
            x, y, w, h = ann['bbox']
            x0, y0 = max(0, int(x - 0.1 * w)), max(0, int(y - 0.1 * h))
            x1 = min(image.shape[1], int(x + 1.1 * w))
            y1 = min(image.shape[0], int(y + 1.1 * h))
            kpts = np.array(ann['keypoints'], np.float32).reshape(17, 3)
            kpts[:, :2] -= (x0, y0)
            crop = image[y0:y1, x0:x1]
            stem = f'{ann["image_id"]}_{ann["id"]}'
            cv2.imwrite(str(root / f'{split}_images' / f'{stem}.jpg'), crop)
            label = _draw_label(kpts, crop.shape[:2], h)
            assert len(np.unique(label)) >= 4, stem
            cv2.imwrite(
                str(root / f'{split}_segmentations' / f'{stem}.png'), label)
    return {split: [f'{a["image_id"]}_{a["id"]}' for a in anns]
            for split, anns in splits.items()}


def _replace(node, old, new):
    """Every value equal to ``old`` (tuple or list) in a config -> ``new``."""
    if isinstance(node, dict):
        return type(node)({k: _replace(v, old, new) for k, v in node.items()})
    if isinstance(node, (list, tuple)):
        if list(node) == list(old):
            return type(node)(new)
        return type(node)(_replace(v, old, new) for v in node)
    return node


def tiny_config(folder: Path, checkpoint: Path) -> Config:
    """The real config with sizes shrunk: 4-layer 32-dim ViT, 32/16-channel
    neck and heads, 128x128 crops, batch 2, 2 iterations, no worker
    processes; data and checkpoint paths point at the test files."""
    cfg = Config.fromfile(CONFIG)
    crop = tuple(cfg.crop_size)
    cfg = Config(_replace(cfg.to_dict(), crop, CROP))
    cfg.work_dir = str(folder / 'work')
    model = cfg.model
    model.backbone.update(arch=TINY, out_indices=(0, 1, 2, 3))
    model.backbone.init_cfg.checkpoint = str(checkpoint)
    dims = TINY['embed_dims']
    model.neck.update(in_channels=[dims] * 4, out_channels=dims)
    model.decode_head.update(in_channels=[dims] * 4, channels=16)
    model.auxiliary_head.update(in_channels=dims, channels=16)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].update(batch_size=2 if key.startswith('train') else 1,
                        num_workers=0, persistent_workers=False)
        cfg[key].dataset.data_root = str(folder / 'LIP')
    cfg.train_cfg.update(max_iters=2, val_interval=2)
    return cfg


# ------------------------------------------------------------ tests
def test_hap_modules_resolve_from_mmseg_registries():
    from mmseg.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

    from hap_mm.integrations import HAPLayerDecayOptimWrapperConstructor
    assert MODELS.get('mmpretrain.HAPViT') is HAPViT
    assert OPTIM_WRAPPER_CONSTRUCTORS.get(
        'mmpretrain.HAPLayerDecayOptimWrapperConstructor'
    ) is HAPLayerDecayOptimWrapperConstructor


def test_lip_flip_swaps_left_and_right_labels():
    """The config's flip turns a left arm into a right arm (and back)."""
    from mmseg.registry import TRANSFORMS
    cfg = Config.fromfile(CONFIG)
    flip_cfg = next(t for t in cfg.train_pipeline if t.type == 'RandomFlip')
    with DefaultScope.overwrite_default_scope('mmseg'):
        flip = TRANSFORMS.build({**flip_cfg, 'prob': 1.0})
    seg = np.zeros((4, 6), np.uint8)
    seg[:, 0], seg[:, 1], seg[:, 2] = 14, 17, 18  # left arm, right leg, ...
    out = flip({'img': np.zeros((4, 6, 3), np.uint8), 'gt_seg_map': seg,
                'seg_fields': ['gt_seg_map']})['gt_seg_map']
    assert out[0, 5] == 15 and out[0, 4] == 16 and out[0, 3] == 19
    assert (out == 0).sum() == (seg == 0).sum()


def test_layer_decay_lrs_in_the_segmentor(layer_decay_groups):
    from mmseg.registry import MODELS
    cfg = Config.fromfile(CONFIG)
    cfg.model.backbone.update(arch=TINY, out_indices=(0, 1, 2, 3),
                              init_cfg=None)
    cfg.model.neck.update(in_channels=[32] * 4, out_channels=32)
    cfg.model.decode_head.update(in_channels=[32] * 4, channels=16)
    cfg.model.auxiliary_head.update(in_channels=32, channels=16)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
    rate = cfg.optim_wrapper.paramwise_cfg.layer_decay_rate
    assert rate == 0.65
    # the final norm, neck and heads get the full lr
    params = layer_decay_groups(model, optim, 1e-4, rate, TINY['num_layers'])
    for name, (param, group) in params.items():
        is_bn = '.bn.' in name or 'norm' in name or '.ln' in name
        no_decay = name.endswith(('.bias', 'pos_embed', 'cls_token')) or is_bn
        assert group['weight_decay'] == (0.0 if no_decay else 0.05), name


def test_lip_config_trains_from_hap_checkpoint_and_evaluates(
        relative_hap_release, build_runner, backbone_at_start):
    checkpoint, encoder = relative_hap_release
    stems = build_lip(Path('LIP'))
    cfg = tiny_config(Path('.'), checkpoint)
    runner = build_runner(cfg)
    start = backbone_at_start(checkpoint)
    runner.register_hook(start)
    runner.train()
    assert runner.iter == 2

    # the HAP checkpoint, exactly (pos_embed resized 16x8 -> 8x8, CLS kept)
    assert start.load_report == ([], [])
    assert set(start.state) == set(encoder)
    for key, value in encoder.items():
        if key == 'pos_embed':
            value = resize_pos_embed(value, (16, 8), (8, 8), 'bicubic', 1)
            assert torch.equal(start.state[key][:, 0], encoder[key][:, 0])
        assert torch.equal(start.state[key], value), key

    val = runner.message_hub.get_info('best_score')  # mIoU of save_best
    assert val is not None and 0.0 <= val <= 100.0
    assert len(runner.val_dataloader.dataset) == len(stems['val'])

    test_cfg = cfg.copy()
    test_cfg.work_dir = 'test'
    test_cfg.load_from = 'work/iter_2.pth'
    metrics = build_runner(test_cfg).test()
    assert {'mIoU', 'aAcc', 'mAcc'} <= set(metrics)
    assert metrics['mIoU'] == pytest.approx(val)
