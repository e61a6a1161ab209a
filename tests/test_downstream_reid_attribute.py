"""ReID / attribute model pieces of the HAP release's recipes, and every
ReID / attribute config trained for two iterations from a converted HAP
checkpoint and evaluated through mmengine's Runner (tiny ViT, CPU)."""
import math
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

from hap_mm.engine import TimmCosineLR
from hap_mm.models import (
    HAPViTForLEM,
    HardMiningTripletLoss,
    LocalityEnhancedModule,
    MultiBranchReIDHead,
    PositiveRatioBCELoss,
)

REPO = Path(__file__).resolve().parents[1]
CROPS = sorted((Path(__file__).parent / 'data' / 'reid').glob('*.jpg'))
TINY_ARCH = dict(
    embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)

pytestmark = pytest.mark.usefixtures('keep_default_scope', 'one_torch_thread')


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


def test_soft_margin_triplet_loss():
    feats = torch.tensor([[0.], [1.], [3.], [5.]])
    labels = torch.tensor([0, 0, 1, 1])
    # (d_ap, d_an) per anchor: (1, 3), (1, 2), (2, 2), (2, 4); the release's
    # SoftMarginLoss(d_an - d_ap, 1) = mean log(1 + exp(d_ap - d_an))
    gaps = torch.tensor([-2., -1., 0., -2.])
    loss = HardMiningTripletLoss(margin=None, loss_weight=0.5)(feats, labels)
    assert loss.item() == pytest.approx(
        0.5 * torch.log1p(torch.exp(gaps)).mean().item())


def _samples(labels):
    return [DataSample().set_gt_label(i) for i in labels]


def test_plain_vit_head_has_no_bnneck_and_shares_the_feature():
    torch.manual_seed(0)
    head = MultiBranchReIDHead(num_classes=3, in_channels=(8, ))
    head.init_weights()
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in head.modules())
    feat = torch.randn(4, 8)
    labels = torch.tensor([0, 0, 2, 2])
    losses = head.loss((feat, ), _samples(labels))
    linear = head.classifiers[0]
    logits = feat @ linear.weight.T + linear.bias
    assert losses['loss_id'].item() == pytest.approx(
        0.5 * F.cross_entropy(logits, labels).item(), rel=1e-5)
    soft = HardMiningTripletLoss(margin=None)(feat, labels)
    assert losses['loss_triplet'].item() == pytest.approx(
        0.5 * soft.item(), rel=1e-5)
    # timm's head init: trunc-normal std 0.02, zero bias
    assert torch.all(linear.bias == 0) and linear.weight.std() < 0.05
    out = head.predict((feat, ))
    assert torch.equal(out[2].pred_feature, feat[2])


def test_lem_head_averages_branches_ce_after_bn_triplet_before():
    torch.manual_seed(0)
    head = MultiBranchReIDHead(
        num_classes=3, in_channels=(8, 12), bnneck=True)
    head.init_weights()
    feats = (torch.randn(4, 8), torch.randn(4, 12))
    labels = torch.tensor([0, 0, 1, 1])
    losses = head.loss(feats, _samples(labels))
    ce, tri = [], []
    for k, feat in enumerate(feats):
        bn = F.batch_norm(feat, None, None, head.necks[k].weight, None,
                          training=True, eps=head.necks[k].eps)
        ce.append(F.cross_entropy(head.classifiers[k](bn), labels))
        tri.append(HardMiningTripletLoss(margin=None)(feat, labels))
    assert losses['loss_id'].item() == pytest.approx(
        0.5 * (ce[0] + ce[1]).item() / 2, rel=1e-5)
    assert losses['loss_triplet'].item() == pytest.approx(
        0.5 * (tri[0] + tri[1]).item() / 2, rel=1e-5)
    assert [bn.bias.requires_grad for bn in head.necks] == [False, False]
    with pytest.raises(ValueError, match='num_classes'):
        head.loss(feats, _samples([0, 0, 1, 3]))
    head.eval()
    out = head.predict(feats)
    assert torch.equal(out[1].pred_feature,
                       torch.cat([feats[0][1], feats[1][1]]))


@torch.no_grad()
def test_vit_lem_shapes_at_both_input_sizes():
    torch.manual_seed(0)
    # ViT-B widths, one block (the shapes do not depend on the depth)
    backbone = HAPViTForLEM(
        arch=dict(embed_dims=768, num_layers=1, num_heads=12,
                  feedforward_channels=3072),
        img_size=(256, 128))
    lem = LocalityEnhancedModule()
    head = MultiBranchReIDHead(
        num_classes=5, in_channels=(768, 1536), bnneck=True)
    for module in (backbone, lem, head):
        module.eval()
    for size, grid in (((256, 128), (8, 4)), ((384, 128), (12, 4))):
        cls_token, feat_map = backbone(torch.randn(1, 3, *size))
        assert cls_token.shape == (1, 768)
        assert feat_map.shape == (1, 768, size[0] // 16, size[1] // 16)
        assert lem.blocks(feat_map).shape == (1, 1536, *grid)
        feats = lem((cls_token, feat_map))
        assert [tuple(x.shape) for x in feats] == [(1, 768), (1, 1536)]
        logits = head(feats)  # the two training logits
        assert [tuple(x.shape) for x in logits] == [(1, 5), (1, 5)]
        assert head.predict(feats)[0].pred_feature.shape == (2304, )


def test_lem_branch_reads_tokens_before_the_final_norm():
    torch.manual_seed(0)
    backbone = HAPViTForLEM(arch=TINY_ARCH)
    lem = LocalityEnhancedModule(in_channels=32, out_channels=64)
    backbone.eval()  # (mmpretrain's ViT.train returns None)
    lem.eval()
    x = torch.randn(2, 3, 256, 128)
    with torch.no_grad():
        cls_before, conv_before = lem(backbone(x))
        backbone.ln1.weight.mul_(3.0)
        backbone.ln1.bias.add_(1.0)
        cls_after, conv_after = lem(backbone(x))
    assert torch.equal(conv_before, conv_after)
    assert not torch.allclose(cls_before, cls_after)


def test_vit_lem_backbone_loads_a_converted_hap_checkpoint(
        release_checkpoint):
    checkpoint, encoder, _ = release_checkpoint(TINY_ARCH, seed=3)
    backbone = HAPViTForLEM(arch=TINY_ARCH)
    assert backbone.load_pretrained(
        str(checkpoint), prefix='backbone.') == ([], [])
    state = backbone.state_dict()
    assert set(state) == set(encoder)
    for key, value in encoder.items():
        assert torch.equal(state[key], value), key


@pytest.mark.parametrize('base_lr, epochs, warmup', [(1.7e-4, 55, 5.5),
                                                     (2.4e-4, 8, 0.8),
                                                     (1.9e-4, 50, 5.0)])
def test_timm_cosine_lr_per_epoch(base_lr, epochs, warmup):
    param = torch.nn.Parameter(torch.zeros(1))
    optim = OptimWrapper(torch.optim.AdamW([param], lr=base_lr))
    scheduler = TimmCosineLR(
        optim, t_initial=epochs, lr_min=1e-5, warmup_t=warmup,
        warmup_lr_init=1e-4, warmup_prefix=False)
    lrs = []
    for _ in range(epochs):
        lrs.append(optim.param_groups[0]['lr'])
        scheduler.step()
    # RELEASE_DOWNSTREAM.md 2.2: epoch 0 at warmup_lr_init 1e-4; linear
    # warm-up while t < warmup_t; then the cosine counted from t = 0
    assert lrs[0] == pytest.approx(1e-4)
    for t, lr in enumerate(lrs):
        if t < warmup:
            expected = 1e-4 + t * (base_lr - 1e-4) / warmup
        else:
            expected = 1e-5 + 0.5 * (base_lr - 1e-5) * (
                1 + math.cos(math.pi * t / epochs))
        assert lr == pytest.approx(expected), t


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
    'reid/hapvit-b_1xb64-100e_market1501-256x128.py': _market,
    'reid/hapvit-b_1xb64-100e_market1501-384x128.py': _market,
    'reid/hapvit-b-lem_1xb64-100e_market1501-256x128.py': _market,
    'reid/hapvit-b-lem_1xb64-100e_market1501-384x128.py': _market,
    'reid/hapvit-b_1xb64-100e_msmt17-256x128.py':
    lambda root: _msmt17(root, 'train', 'test'),
    'reid/hapvit-b_1xb64-100e_msmt17-384x128.py':
    lambda root: _msmt17(root, 'mask_train_v2', 'mask_test_v2'),
    'reid/hapvit-b-lem_1xb64-100e_msmt17-256x128.py':
    lambda root: _msmt17(root, 'mask_train_v2', 'mask_test_v2'),
    'reid/hapvit-b-lem_1xb64-100e_msmt17-384x128.py':
    lambda root: _msmt17(root, 'train', 'test'),
    'attribute/hapvit-b_8xb8-55e_pa100k-256x192.py': _pa100k,
    'attribute/hapvit-b_8xb8-50e_peta-256x192.py':
    lambda root: _attribute_pickle(root, 'images', 35),
    'attribute/hapvit-b_8xb8-8e_rapv1-256x192.py':
    lambda root: _attribute_pickle(root, 'RAP_dataset', 51),
}


@pytest.fixture(scope='module')
def hap_release(release_checkpoint):
    """A tiny HAP checkpoint in the authors' release layout, converted by
    the converter: (converted file, encoder tensors)."""
    checkpoint, encoder, _ = release_checkpoint(TINY_ARCH, seed=11)
    return checkpoint, encoder


def _tiny_config(name: str, data_root: Path, checkpoint: Path) -> Config:
    """The real config with a 2-layer 32-dim ViT (a 64-channel LEM branch),
    batch 4 (2 ids x 2 images for ReID), 1 epoch, no workers, fp32."""
    cfg = Config.fromfile(REPO / 'configs' / 'downstream' / name)
    cfg.work_dir = 'work'
    cfg.model.backbone.arch = TINY_ARCH
    cfg.model.backbone.init_cfg.checkpoint = str(checkpoint)
    dims = TINY_ARCH['embed_dims']
    if name.startswith('reid/'):
        channels = [dims]
        if cfg.model.neck is not None:  # ViT-lem
            cfg.model.neck.update(in_channels=dims, out_channels=2 * dims)
            channels.append(2 * dims)
        cfg.model.head.in_channels = tuple(channels)
        cfg.optim_wrapper.type = 'OptimWrapper'  # AMP needs an accelerator
        cfg.train_dataloader.sampler.update(batch_size=4, num_instances=2)
    else:
        cfg.model.head.in_channels = dims
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[key]
        loader.dataset.data_root = str(data_root)
        loader.update(
            batch_size=4, num_workers=0, persistent_workers=False,
            pin_memory=False)
    cfg.train_cfg.update(max_epochs=1, val_interval=1)
    cfg.default_hooks.logger.interval = 1
    return cfg


def _resized_pos_embed(pos_embed: torch.Tensor, grid) -> torch.Tensor:
    """(1, 1 + 16*8, C) -> (1, 1 + h*w, C): the patch part bicubic
    (align_corners False) from the 16x8 pre-training grid, CLS slot kept."""
    patches = pos_embed[:, 1:].reshape(1, 16, 8, -1).permute(0, 3, 1, 2)
    patches = F.interpolate(
        patches, size=grid, mode='bicubic', align_corners=False)
    return torch.cat([pos_embed[:, :1], patches.flatten(2).transpose(1, 2)],
                     dim=1)


@pytest.mark.parametrize('name', list(CONFIGS))
def test_config_trains_two_iterations_and_evaluates(
        name, relative_hap_release, build_runner, backbone_at_start):
    checkpoint, encoder = relative_hap_release
    CONFIGS[name](Path('data'))
    cfg = _tiny_config(name, Path('data'), checkpoint)
    runner = build_runner(cfg)
    start = backbone_at_start(checkpoint)
    runner.register_hook(start)
    runner.train()
    assert runner.iter == 2

    # the converted checkpoint is the backbone, nothing missing or
    # unexpected; the position embedding resized from the 16x8 grid
    assert start.load_report == ([], [])
    grid = tuple(cfg.model.backbone.img_size)
    grid = (grid[0] // 16, grid[1] // 16)
    for key, value in encoder.items():
        if key == 'pos_embed' and grid != (16, 8):
            value = _resized_pos_embed(value, grid)
        torch.testing.assert_close(start.state[key], value, msg=key)

    hub = runner.message_hub
    if name.startswith('reid/'):
        for loss in ('loss_id', 'loss_triplet'):
            assert np.isfinite(hub.get_scalar(f'train/{loss}').current())
        keys = [f'reid_test/{k}' for k in ('mAP', 'rank1', 'rank5', 'rank10')]
        lem = 'lem' in name
        feature_dims = 3 * TINY_ARCH['embed_dims'] if lem else \
            TINY_ARCH['embed_dims']
        with torch.no_grad():
            batch = next(iter(runner.test_dataloader))
            out = runner.model.test_step(batch)
        assert out[0].pred_feature.shape == (feature_dims, )
    else:
        assert np.isfinite(hub.get_scalar('train/loss').current())
        labels = runner.train_dataloader.dataset.get_label_matrix()
        assert torch.allclose(runner.model.head.loss_module.pos_ratio,
                              torch.tensor(labels.mean(0)))
        keys = [f'attribute_test/{k}' for k in
                ('mA', 'accuracy', 'precision', 'recall', 'f1')]
    assert all(f'val/{k}' in hub.log_scalars for k in keys)
    # no checkpoint is selected on the test split: only the last one
    assert hub.get_info('best_score') is None
    assert sorted(p.name for p in Path('work').glob('*.pth')) == [
        'epoch_1.pth']
    metrics = runner.test()
    assert set(keys) <= set(metrics)
    assert all(0.0 <= metrics[k] <= 100.0 for k in keys)
