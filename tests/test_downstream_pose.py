"""HAP backbones in stock mmpose: the real pose configs, shrunk to a tiny
ViT, train two iterations on mmpose's own COCO / MPII test data and are
evaluated by mmpose's metrics, starting from a converted HAP checkpoint."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.models.utils import resize_pos_embed

from hap_mm.models import HAPViT

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / 'configs' / 'downstream' / 'pose'
DATA = Path(__file__).parent / 'data' / 'pose'
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)

pytestmark = pytest.mark.usefixtures('keep_default_scope', 'one_torch_thread')


# ------------------------------------------------------------ checkpoint
@pytest.fixture(scope='module')
def hap_release(release_checkpoint):
    """A tiny HAP checkpoint in the authors' release layout (timm names,
    decoder, mask token), converted by the converter. Returns the converted
    file and the encoder tensors (mmpretrain names) it was made from."""
    checkpoint, encoder, _ = release_checkpoint(TINY, seed=7)
    return checkpoint, encoder


def assert_backbone_is_checkpoint(hook, encoder, grid):
    """Every backbone tensor is the converter's input (pos_embed resized to
    the model's grid, CLS kept); nothing missing or unexpected."""
    assert hook.load_report == ([], [])
    assert set(hook.state) == set(encoder)
    for key, value in encoder.items():
        if key == 'pos_embed':
            value = resize_pos_embed(value, (16, 8), grid, 'bicubic', 1)
            assert torch.equal(hook.state[key][:, 0], encoder[key][:, 0])
        assert torch.equal(hook.state[key], value), key


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


def _redirect(node, old: str, new: str):
    """Every path under ``old`` in a config, moved to ``new``."""
    if isinstance(node, dict):
        return type(node)({k: _redirect(v, old, new) for k, v in node.items()})
    if isinstance(node, list):
        return [_redirect(v, old, new) for v in node]
    if isinstance(node, str) and node.startswith(old):
        return new + node[len(old):]
    return node


def tiny_config(name: str, folder: Path, checkpoint: Path) -> Config:
    """The real config with sizes shrunk: 2-layer 32-dim ViT, 16-channel
    deconvs, training batch 2, 4 training instances (2 iterations), 1 epoch,
    no worker processes; data and checkpoint paths point at the test
    files."""
    cfg = Config.fromfile(CONFIGS / name)
    data_root = cfg.data_root
    root = folder / Path(data_root).name
    (_mpii if 'mpii' in name else _coco)(root)
    cfg.work_dir = str(folder / 'work')
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader',
                'val_evaluator', 'test_evaluator'):
        cfg[key] = _redirect(cfg[key].to_dict(), data_root, f'{root}/')
    backbone = cfg.model.backbone
    backbone.arch = TINY
    backbone.init_cfg.checkpoint = str(checkpoint)
    cfg.model.head.update(in_channels=TINY['embed_dims'],
                          deconv_out_channels=(16, 16))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].update(num_workers=0, persistent_workers=False)
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.dataset.indices = 4
    cfg.train_cfg.update(max_epochs=1, val_interval=1)
    return cfg


# ------------------------------------------------------------ tests
def test_hap_modules_resolve_from_mmpose_registries():
    from mmpose.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

    from hap_mm.integrations import HAPLayerDecayOptimWrapperConstructor
    assert MODELS.get('mmpretrain.HAPViT') is HAPViT
    assert OPTIM_WRAPPER_CONSTRUCTORS.get(
        'mmpretrain.HAPLayerDecayOptimWrapperConstructor'
    ) is HAPLayerDecayOptimWrapperConstructor
    vit = MODELS.build(
        dict(type='mmpretrain.HAPViT', arch=TINY, img_size=(256, 192)))
    assert vit(torch.zeros(1, 3, 256, 192))[0].shape == (1, 32, 16, 12)


def test_layer_decay_lrs_in_the_pose_estimator(layer_decay_groups):
    from mmpose.registry import MODELS
    cfg = Config.fromfile(CONFIGS / 'td-hm_hapvit-b_8xb64-210e_coco-256x192.py')
    cfg.model.backbone.update(arch=TINY, init_cfg=None)
    cfg.model.head.in_channels = TINY['embed_dims']
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg.model)
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
    base_lr, base_wd = 5e-4, 0.1
    rate = cfg.optim_wrapper.paramwise_cfg.layer_decay_rate
    assert rate == 0.75
    params = layer_decay_groups(model, optim, base_lr, rate,
                                TINY['num_layers'])
    for name, (param, group) in params.items():
        no_decay = (param.ndim == 1 or name.endswith(
            ('pos_embed', 'cls_token')))  # norms and biases are 1-D here
        assert group['weight_decay'] == (0.0 if no_decay else base_wd), name
    assert params['head.final_layer.weight'][1]['lr'] == base_lr
    assert params['backbone.patch_embed.projection.weight'][1][
        'lr'] == pytest.approx(base_lr * rate**3)


@pytest.mark.parametrize('name, grid, metric', [
    ('td-hm_hapvit-b_8xb64-210e_coco-256x192.py', (16, 12), 'coco/AP'),
    ('td-hm_hapvit-b_8xb64-210e_coco-384x288.py', (24, 18), 'coco/AP'),
    ('td-hm_hapvit-b_8xb64-210e_mpii-256x256.py', (16, 16), 'PCK'),
])
def test_pose_config_trains_from_hap_checkpoint_and_evaluates(
        name, grid, metric, relative_hap_release, build_runner,
        backbone_at_start):
    checkpoint, encoder = relative_hap_release
    cfg = tiny_config(name, Path('.'), checkpoint)
    runner = build_runner(cfg)
    start = backbone_at_start(checkpoint)
    runner.register_hook(start)
    runner.train()
    assert runner.iter == 2
    assert_backbone_is_checkpoint(start, encoder, grid)
    val = runner.message_hub.get_info('best_score')  # save_best's metric
    assert val is not None and 0.0 <= val <= 100.0

    # the saved checkpoint, reloaded (weights_only) and tested, gives the
    # same metric
    test_cfg = cfg.copy()
    test_cfg.work_dir = 'test'
    test_cfg.load_from = 'work/epoch_1.pth'
    metrics = build_runner(test_cfg).test()
    assert metric in metrics
    assert metrics[metric] == pytest.approx(val)
