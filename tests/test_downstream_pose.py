"""HAP backbones in stock mmpose with the HAP release's pose recipes: the
real configs, shrunk to a tiny ViT, train two iterations on mmpose's own
COCO / MPII / AIC test images and are evaluated by mmpose's metrics,
starting from a converted HAP checkpoint. The multi-dataset (ViT-MoE)
config trains on the three at once, validates on COCO, and its checkpoint
is split into plain models that the single-dataset configs load."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import DefaultScope
from mmpretrain.models.utils import resize_pos_embed

from hap_mm.models import HAPViT, HAPViTMoE

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / 'configs' / 'downstream' / 'pose'
DATA = Path(__file__).parent / 'data' / 'pose'
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
TINY_PART = 8  # expert width of the tiny MoE: fc2 = 24 shared + 8
SINGLE = 'td-hm_hapvit-b_8xb64-210e_{}-256x192.py'
MULTI = 'td-hm_hapvit-moe-b_8xb128-210e_coco-aic-mpii-256x192.py'
KEYPOINTS = dict(coco=17, aic=14, mpii=16)

pytestmark = pytest.mark.usefixtures('keep_default_scope', 'one_torch_thread')


# ------------------------------------------------------------ checkpoint
@pytest.fixture(scope='module')
def hap_release(release_checkpoint):
    """A tiny HAP checkpoint in the authors' release layout (timm names,
    decoder, mask token, a random CLS slot in pos_embed), converted by the
    converter. Returns the converted file and the encoder tensors
    (mmpretrain names) it was made from."""
    checkpoint, encoder, _ = release_checkpoint(TINY, seed=7)
    return checkpoint, encoder


def assert_backbone_is_release_init(hook, encoder, grid):
    """The backbone starts as the release builds it from the checkpoint:
    every encoder tensor loaded, except the CLS token (none) and the final
    norm (fresh LayerNorm); the position embedding is the checkpoint's patch
    part resized bicubic from the 16x8 grid, its CLS slot dropped (not added
    to the patches); each MoE expert is the last rows of its fc2."""
    assert hook.load_report == ([], [])
    state = hook.state
    for key, value in encoder.items():
        if key == 'cls_token':
            assert key not in state
            continue
        if key == 'pos_embed':
            value = resize_pos_embed(value, (16, 8), grid, 'bicubic', 1)[:, 1:]
        elif key.startswith('ln1.'):
            assert not torch.equal(state[key], value)
            value = (torch.ones_like(value)
                     if key.endswith('weight') else torch.zeros_like(value))
        elif '{}.shared.{}'.format(*key.rsplit('.', 1)) in state:
            fc2, name = key.rsplit('.', 1)
            shared = value.shape[0] - TINY_PART
            assert torch.equal(state[f'{fc2}.shared.{name}'], value[:shared])
            for k in range(3):
                assert torch.equal(state[f'{fc2}.experts.{k}.{name}'],
                                   value[shared:]), (key, k)
            continue
        assert torch.equal(state[key], value), key


# ------------------------------------------------------------ data
def _coco(root: Path) -> None:
    """mmpose's COCO test images in the layout of data/coco/."""
    (root / 'annotations').mkdir(parents=True)
    (root / 'person_detection_results').mkdir()
    for split in ('train2017', 'val2017'):
        (root / split).symlink_to(DATA / 'coco', target_is_directory=True)
        shutil.copy(DATA / 'coco' / 'test_coco.json',
                    root / 'annotations' / f'person_keypoints_{split}.json')
    shutil.copy(
        DATA / 'coco' / 'test_coco_det_AP_H_56.json',
        root / 'person_detection_results' /
        'COCO_val2017_detections_AP_H_56_person.json')


def _mpii(root: Path) -> None:
    """mmpose's MPII test images in the layout of data/mpii/, with the
    head boxes of mpii_gt_val.mat (a square on neck -> head top)."""
    (root / 'annotations').mkdir(parents=True)
    (root / 'images').symlink_to(DATA / 'mpii', target_is_directory=True)
    anns = json.loads((DATA / 'mpii' / 'test_mpii.json').read_text())
    for split in ('train', 'val'):
        shutil.copy(DATA / 'mpii' / 'test_mpii.json',
                    root / 'annotations' / f'mpii_{split}.json')
    boxes = []
    for ann in anns:
        neck, top = np.array(ann['joints'][8]), np.array(ann['joints'][9])
        center, half = (neck + top) / 2, np.linalg.norm(top - neck) / 2
        boxes.append([center - half, center + half])
    scipy.io.savemat(root / 'annotations' / 'mpii_gt_val.mat',
                     {'headboxes_src': np.stack(boxes, axis=-1)})


def _aic(root: Path) -> None:
    """mmpose's AI Challenger test images in the layout of data/aic/."""
    (root / 'annotations').mkdir(parents=True)
    for split, folder in (
            ('train', 'ai_challenger_keypoint_train_20170902/'
             'keypoint_train_images_20170902'),
            ('val', 'ai_challenger_keypoint_validation_20170911/'
             'keypoint_validation_images_20170911')):
        (root / folder).parent.mkdir(parents=True)
        (root / folder).symlink_to(DATA / 'aic', target_is_directory=True)
        shutil.copy(DATA / 'aic' / 'test_aic.json',
                    root / 'annotations' / f'aic_{split}.json')


LAYOUTS = {'data/coco/': _coco, 'data/mpii/': _mpii, 'data/aic/': _aic}


def _redirect(node, old: str, new: str):
    """Every path under ``old`` in a config, moved to ``new``."""
    if isinstance(node, dict):
        return type(node)({k: _redirect(v, old, new) for k, v in node.items()})
    if isinstance(node, list):
        return [_redirect(v, old, new) for v in node]
    if isinstance(node, str) and node.startswith(old):
        return new + node[len(old):]
    return node


def shrink_model(model: dict, checkpoint=None) -> None:
    """2-layer 32-dim ViT (8-wide experts), 16-channel deconvolutions."""
    backbone = model.backbone
    backbone.arch = TINY
    if backbone.type.endswith('MoE'):
        backbone.part_features = TINY_PART
    if checkpoint is None:
        backbone.init_cfg = None
    else:
        backbone.init_cfg.checkpoint = str(checkpoint)
    for head in [model.head, *model.get('aux_heads', [])]:
        head.update(in_channels=TINY['embed_dims'],
                    deconv_out_channels=(16, 16))


def tiny_config(name: str, folder: Path, checkpoint: Path) -> Config:
    """The real config with sizes shrunk: tiny model, 2 training
    iterations (batch 2 of 4 instances; the multi-dataset config batch 3 of
    2 instances per dataset), 1 epoch, no worker processes; data and
    checkpoint paths point at the test files."""
    cfg = Config.fromfile(CONFIGS / name)
    cfg.work_dir = str(folder / 'work')
    for old, make in LAYOUTS.items():
        root = folder / Path(old).name
        make(root)
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader',
                    'val_evaluator', 'test_evaluator'):
            cfg[key] = _redirect(cfg[key].to_dict(), old, f'{root}/')
    shrink_model(cfg.model, checkpoint)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].update(num_workers=0, persistent_workers=False)
    train = cfg.train_dataloader
    if train.dataset.type == 'CombinedDataset':
        train.batch_size = 3
        for subset in train.dataset.datasets:
            subset.indices = 2
    else:
        train.batch_size = 2
        train.dataset.indices = 4
    cfg.train_cfg.update(max_epochs=1, val_interval=1)
    return cfg


class Record(Hook):
    """Training outputs of every iteration and the validation metrics."""

    def __init__(self):
        self.outputs, self.metrics = [], None

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.outputs.append({k: float(v) for k, v in outputs.items()})

    def after_val_epoch(self, runner, metrics=None):
        self.metrics = metrics


def build_pose_model(cfg_model: dict):
    from mmpose.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpose'):
        return MODELS.build(cfg_model)


# ------------------------------------------------------------ tests
def test_hap_modules_resolve_from_mmpose_registries():
    from mmpose.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

    from hap_mm.integrations import HAPLayerDecayOptimWrapperConstructor
    from hap_mm.integrations.mmpose import TopdownMoEPoseEstimator
    assert MODELS.get('mmpretrain.HAPViT') is HAPViT
    assert MODELS.get('mmpretrain.HAPViTMoE') is HAPViTMoE
    assert MODELS.get('TopdownMoEPoseEstimator') is TopdownMoEPoseEstimator
    assert OPTIM_WRAPPER_CONSTRUCTORS.get(
        'mmpretrain.HAPLayerDecayOptimWrapperConstructor'
    ) is HAPLayerDecayOptimWrapperConstructor
    vit = MODELS.build(
        dict(type='mmpretrain.HAPViT', arch=TINY, img_size=(256, 192)))
    assert vit(torch.zeros(1, 3, 256, 192))[0].shape == (1, 32, 16, 12)


@pytest.mark.parametrize('dataset, metric', [
    ('coco', 'coco/AP'),  # AdamW + layer decay, UDP, half-body, det boxes
    ('mpii', 'PCK'),  # Adam, UDP, no half-body, PCKh
    ('aic', 'coco/AP'),  # Adam, MSRA heatmaps, AIC mAP without areas
])
def test_release_config_trains_from_hap_checkpoint_and_evaluates(
        dataset, metric, relative_hap_release, build_runner,
        backbone_at_start):
    checkpoint, encoder = relative_hap_release
    cfg = tiny_config(SINGLE.format(dataset), Path('.'), checkpoint)
    runner = build_runner(cfg)
    start, record = backbone_at_start(checkpoint), Record()
    runner.register_hook(start)
    runner.register_hook(record)
    runner.train()
    assert runner.iter == 2
    assert_backbone_is_release_init(start, encoder, (16, 12))
    assert all(np.isfinite(o['loss']) for o in record.outputs)
    val = record.metrics[metric]
    assert 0.0 <= val <= 100.0

    # the last checkpoint (no save_best), reloaded (weights_only) and
    # tested, gives the same metric
    assert sorted(p.name for p in Path('work').glob('*.pth')) == [
        'epoch_1.pth'
    ]
    test_cfg = cfg.copy()
    test_cfg.work_dir = 'test'
    test_cfg.load_from = 'work/epoch_1.pth'
    metrics = build_runner(test_cfg).test()
    assert metrics[metric] == pytest.approx(val)


def test_multi_dataset_config_trains_on_coco_aic_mpii_and_splits(
        relative_hap_release, build_runner, backbone_at_start, script_main):
    checkpoint, encoder = relative_hap_release
    cfg = tiny_config(MULTI, Path('.'), checkpoint)
    runner = build_runner(cfg)
    start, record = backbone_at_start(checkpoint), Record()
    runner.register_hook(start)
    runner.register_hook(record)
    runner.train()
    assert runner.iter == 2
    assert_backbone_is_release_init(start, encoder, (16, 12))
    # every step sums one loss per dataset's head (17-channel targets for
    # all datasets, else the heads' losses raise)
    for out in record.outputs:
        parts = [out[f'loss_kpt_{name}'] for name in KEYPOINTS]
        assert out['loss'] == pytest.approx(sum(parts), rel=1e-5)
    # validation on COCO val only, through the COCO head and expert 0
    assert 0.0 <= record.metrics['coco/AP'] <= 100.0

    # split the last checkpoint; each part loads strictly into the plain
    # single-dataset model and computes what the MoE model computes for
    # that dataset's samples
    script_main('tools/model_converters/split_moe.py')(
        ['work/epoch_1.pth', 'split'])
    moe = runner.model
    moe.eval()
    x = torch.randn(2, 3, 256, 192)
    for k, (name, joints) in enumerate(KEYPOINTS.items()):
        single = Config.fromfile(CONFIGS / SINGLE.format(name))
        shrink_model(single.model)
        plain = build_pose_model(single.model)
        plain.eval()
        state = torch.load(f'split/{name}.pth', weights_only=True)
        plain.load_state_dict(state['state_dict'], strict=True)
        with torch.no_grad():
            ref = moe.heads[k](moe.backbone(
                x, dataset_idx=torch.full((2, ), k)))[:, :joints]
            out = plain._forward(x)
        assert out.shape[1] == joints
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-6)
