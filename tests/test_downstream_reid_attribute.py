"""ReID / attribute model pieces, and every downstream config trained for
two iterations and evaluated through mmengine's Runner (tiny ViT, CPU)."""
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmpretrain.structures import DataSample

from hap_mm.models import HAPViT, HardMiningTripletLoss, PositiveRatioBCELoss, ReIDHead

REPO = Path(__file__).resolve().parents[1]
CROPS = sorted((Path(__file__).parent / 'data' / 'reid').glob('*.jpg'))
TINY_ARCH = dict(
    embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def test_triplet_loss_mines_hardest_positive_and_negative():
    feats = torch.tensor([[0.], [1.], [3.], [5.]])
    labels = torch.tensor([0, 0, 1, 1])
    # anchor 2: hardest positive 2 (to 5), hardest negative 2 (to 1)
    loss = HardMiningTripletLoss(margin=0.3)(feats, labels)
    assert loss.item() == pytest.approx(0.3 / 4)


def test_triplet_loss_skips_anchors_without_positive():
    feats = torch.tensor([[0.], [1.], [3.]], requires_grad=True)
    loss = HardMiningTripletLoss(margin=1.0)(feats, torch.tensor([0, 1, 1]))
    # anchors 1 and 2: d_ap 2; d_an 1 and 3
    assert loss.item() == pytest.approx((2 - 1 + 1) / 2)
    single = HardMiningTripletLoss()(feats, torch.tensor([0, 0, 0]))
    assert single.item() == 0.0
    single.backward()


def test_positive_ratio_bce_weights():
    loss = PositiveRatioBCELoss(num_classes=2)
    with pytest.raises(RuntimeError, match='PositiveRatioHook'):
        loss(torch.zeros(1, 2), torch.ones(1, 2))
    loss.set_pos_ratio([0.2, 0.9])
    logits = torch.tensor([[0.5, -1.0], [2.0, 0.0]])
    target = torch.tensor([[1., 0.], [0., 1.]])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, target, reduction='none')
    weight = torch.tensor([[np.exp(0.8), np.exp(0.9)],
                           [np.exp(0.2), np.exp(0.1)]])
    expected = (bce * weight).sum() / 2
    assert loss(logits, target).item() == pytest.approx(expected.item())
    assert 'pos_ratio' in loss.state_dict()


def test_reid_head_losses_and_retrieval_feature():
    torch.manual_seed(0)
    head = ReIDHead(num_classes=3, in_channels=8)
    head.init_weights()
    feats = (torch.randn(4, 8), )
    samples = [DataSample().set_gt_label(i) for i in (0, 0, 2, 2)]
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss_id', 'loss_triplet'}
    assert not head.bn_neck.bias.requires_grad
    head.eval()
    out = head.predict(feats)
    expected = head.bn_neck(feats[0])
    assert torch.allclose(out[1].pred_feature, expected[1])
    with pytest.raises(ValueError, match='num_classes'):
        head.loss(feats, [DataSample().set_gt_label(3)] * 4)


# ------------------------------------------------------------- tiny data
def _put(path: Path, index: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(CROPS[index % len(CROPS)], path)


def _market(root: Path) -> None:
    """4 training ids x 2 images; 2 queries; matches in other cameras."""
    files = [f'bounding_box_train/{pid:04d}_c{cam}s1_000{pid}{cam}1_01.jpg'
             for pid in (2, 3, 4, 5) for cam in (1, 2)]
    files += ['query/0011_c1s1_001051_00.jpg', 'query/0012_c1s1_001061_00.jpg']
    files += [
        'bounding_box_test/0011_c2s1_000301_01.jpg',
        'bounding_box_test/0012_c3s1_000776_02.jpg',
        'bounding_box_test/0000_c1s1_000151_01.jpg',
        'bounding_box_test/-1_c1s1_000401_03.jpg'
    ]
    for i, rel in enumerate(files):
        _put(root / rel, i)


def _msmt17(root: Path, train_dir: str, test_dir: str) -> None:
    lists = {
        'list_train.txt': (train_dir, [(pid, cam) for pid in (0, 1, 2)
                                       for cam in (1, 2)]),
        'list_val.txt': (train_dir, [(3, 1), (3, 4)]),
        'list_query.txt': (test_dir, [(10, 1), (11, 1)]),
        'list_gallery.txt': (test_dir, [(10, 5), (11, 6), (12, 1)]),
    }
    index = 0
    for list_name, (folder, entries) in lists.items():
        lines = []
        for pid, cam in entries:
            rel = f'{pid:04d}/{pid:04d}_{index:03d}_{cam:02d}_0303morning_00.jpg'
            _put(root / folder / rel, index)
            index += 1
            lines.append(f'{rel} {pid}\n')
        (root / list_name).write_text(''.join(lines))


def _labels(num: int, num_attrs: int, seed: int) -> np.ndarray:
    labels = (np.random.RandomState(seed).rand(num, num_attrs) < 0.3)
    labels[:, 0] = np.arange(num) % 2  # both values in the first column
    return labels.astype(np.uint8)


def _pa100k(root: Path) -> None:
    names = [f'{i:06d}.jpg' for i in range(1, 13)]
    for i, name in enumerate(names):
        _put(root / 'data' / name, i)
    labels = _labels(12, 26, seed=0)

    def cells(strings):
        out = np.empty((len(strings), 1), dtype=object)
        out[:, 0] = strings
        return out

    scipy.io.savemat(
        root / 'annotation.mat', {
            'attributes': cells([f'attr{i}' for i in range(26)]),
            'train_images_name': cells(names[:6]),
            'train_label': labels[:6],
            'val_images_name': cells(names[6:8]),
            'val_label': labels[6:8],
            'test_images_name': cells(names[8:]),
            'test_label': labels[8:],
        })


def _attribute_pickle(root: Path, img_dir: str, num_eval: int) -> None:
    names = [f'{i:05d}.png' for i in range(1, 13)]
    for i, name in enumerate(names):
        _put(root / img_dir / name, i)
    num_attrs = num_eval + 4
    info = dict(
        image_name=names,
        label=_labels(12, num_attrs, seed=1),
        attr_name=[f'attr{i}' for i in range(num_attrs)],
        label_idx=dict(eval=list(range(num_eval))),
        partition=dict(
            trainval=[np.arange(8), np.arange(4, 12)],
            test=[np.arange(8, 12), np.arange(4)]))
    with open(root / 'dataset.pkl', 'wb') as f:
        pickle.dump(info, f)


CONFIGS = {
    'reid/hapvit-b_8xb64-60e_market1501-256x128.py': _market,
    'reid/hapvit-b_8xb64-60e_market1501-384x128.py': _market,
    'reid/hapvit-b_8xb64-60e_msmt17-256x128.py':
    lambda root: _msmt17(root, 'train', 'test'),
    'reid/hapvit-b_8xb64-60e_msmt17-384x128.py':
    lambda root: _msmt17(root, 'mask_train_v2', 'mask_test_v2'),
    'attribute/hapvit-b_4xb16-30e_pa100k-256x192.py': _pa100k,
    'attribute/hapvit-b_4xb16-30e_peta-256x192.py':
    lambda root: _attribute_pickle(root, 'images', 35),
    'attribute/hapvit-b_4xb16-30e_rap-256x192.py':
    lambda root: _attribute_pickle(root, 'RAP_dataset', 51),
}


def _tiny_checkpoint(path: Path) -> dict:
    """A converted-backbone checkpoint of the tiny ViT (16x8 grid)."""
    torch.manual_seed(123)
    vit = HAPViT(arch=TINY_ARCH, img_size=(256, 128))
    vit.init_weights()
    state = {f'backbone.{k}': v for k, v in vit.state_dict().items()}
    torch.save({'state_dict': state}, path)
    return vit.state_dict()


def _tiny_config(name: str, data_root: Path, work_dir: Path,
                 checkpoint: Path) -> Config:
    cfg = Config.fromfile(REPO / 'configs' / 'downstream' / name)
    cfg.work_dir = str(work_dir)
    cfg.model.backbone.arch = TINY_ARCH
    cfg.model.backbone.init_cfg.checkpoint = str(checkpoint)
    cfg.model.head.in_channels = TINY_ARCH['embed_dims']
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[key]
        loader.dataset.data_root = str(data_root)
        loader.update(
            batch_size=4, num_workers=0, persistent_workers=False,
            pin_memory=False)
    if cfg.train_dataloader.sampler.type == 'IdentityBalancedSampler':
        cfg.train_dataloader.sampler.update(batch_size=4, num_instances=2)
    cfg.train_cfg.update(max_epochs=1, val_interval=1)
    cfg.default_hooks.logger.interval = 1
    return cfg


@pytest.mark.parametrize('name', list(CONFIGS))
def test_config_trains_two_iterations_and_evaluates(name, tmp_path):
    data_root = tmp_path / 'data'
    CONFIGS[name](data_root)
    checkpoint = tmp_path / 'hap_backbone.pth'
    pretrained = _tiny_checkpoint(checkpoint)
    runner = RUNNERS.build(
        _tiny_config(name, data_root, tmp_path / 'work', checkpoint))
    runner.train()
    assert runner.iter == 2

    model = runner.model
    # the converted checkpoint was loaded (2 tiny-lr steps move it < 1e-3)
    key = 'layers.0.ffn.layers.1.weight'
    assert torch.allclose(
        model.backbone.state_dict()[key], pretrained[key], atol=1e-3)
    # layer-wise lr decay through get_layer_depth: stem, 2 blocks, head
    # (mmengine appends a group without lr_scale for logging base_lr)
    scales = {
        g['lr_scale']
        for g in runner.optim_wrapper.param_groups if 'lr_scale' in g
    }
    assert sorted(scales) == pytest.approx([0.65**3, 0.65**2, 0.65, 1.0])

    hub = runner.message_hub
    if name.startswith('reid/'):
        for loss in ('loss_id', 'loss_triplet'):
            assert np.isfinite(hub.get_scalar(f'train/{loss}').current())
        keys = ('reid/mAP', 'reid/rank1', 'reid/rank5', 'reid/rank10')
    else:
        assert np.isfinite(hub.get_scalar('train/loss').current())
        labels = runner.train_dataloader.dataset.get_label_matrix()
        assert torch.allclose(model.head.loss_module.pos_ratio,
                              torch.tensor(labels.mean(0)))
        keys = ('attribute/mA', 'attribute/accuracy', 'attribute/precision',
                'attribute/recall', 'attribute/f1')
    assert all(f'val/{k}' in hub.log_scalars for k in keys)
    metrics = runner.test()
    assert set(keys) <= set(metrics)
    assert all(0.0 <= metrics[k] <= 100.0 for k in keys)
