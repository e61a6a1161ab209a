import copy
import re

import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import hap_mm  # noqa: F401  (registers the modules)
from hap_mm.models.utils import CheckpointLoadError, rect_sincos_pos_embed

TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def _hap_cfg(img_size=(64, 32), views=2, align=True):
    grid = (img_size[0] // 16, img_size[1] // 16)
    return dict(
        type='HAP',
        data_preprocessor=dict(type='SelfSupDataPreprocessor'),
        backbone=dict(
            type='HAPViT', arch=TINY, img_size=img_size, out_type='raw'),
        neck=dict(
            type='HAPPretrainDecoder',
            grid_size=grid,
            embed_dim=32,
            decoder_embed_dim=16,
            decoder_depth=1,
            decoder_num_heads=2),
        head=dict(
            type='HAPPretrainHead',
            grid_size=grid,
            norm_pix=True,
            loss=dict(type='PixelReconstructionLoss', criterion='L2')),
        align_loss=dict(type='StructureInvariantAlignLoss')
        if align else None)


def _random_masks(batch, views, n, num_mask, gen):
    scores = torch.rand(batch, views, n, generator=gen)
    idx = scores.argsort(-1)[..., :num_mask]
    return torch.zeros(batch, views, n, dtype=torch.bool).scatter_(-1, idx, True)


def _samples(mask):
    return [DataSample(mask=m) for m in mask]


def test_rect_sincos_rows_in_first_half_columns_in_second():
    pe = rect_sincos_pos_embed((16, 8), 64)[0, 1:].reshape(16, 8, 64)
    # first half depends only on the row, second half only on the column
    assert torch.allclose(pe[:, :1, :32].expand(-1, 8, -1), pe[..., :32])
    assert torch.allclose(pe[:1, :, 32:].expand(16, -1, -1), pe[..., 32:])
    assert not torch.allclose(pe[0, 0], pe[1, 0])


def test_masked_forward_encodes_visible_patches_of_each_view():
    torch.manual_seed(0)
    vit = MODELS.build(
        dict(type='HAPViT', arch=TINY, img_size=(64, 32), out_type='raw'))
    vit.init_weights()
    vit.eval()
    x = torch.randn(3, 3, 64, 32)
    mask = _random_masks(3, 2, 8, 4, torch.Generator().manual_seed(0))
    latent, flat_mask, ids_restore = vit(x, mask)
    assert latent.shape == (6, 1 + 4, 32)
    assert flat_mask.shape == (6, 8) and ids_restore.shape == (6, 8)
    # batched views equal each view encoded alone (view-major rows)
    for v in range(2):
        alone, _, _ = vit(x, mask[:, v])
        assert torch.allclose(latent[v * 3:(v + 1) * 3], alone, atol=1e-5)
    # unmasked forward is the plain feature extractor
    vit.out_type = 'featmap'
    assert vit(x)[0].shape == (3, 32, 4, 2)


def test_masked_forward_rejects_unequal_counts():
    vit = MODELS.build(dict(type='HAPViT', arch=TINY, img_size=(64, 32)))
    mask = torch.zeros(2, 8, dtype=torch.bool)
    mask[0, :4] = True
    mask[1, :3] = True
    with pytest.raises(ValueError, match='same number'):
        vit(torch.randn(2, 3, 64, 32), mask)


def _mae_loss_on_patches(pred, imgs, mask, p=16):
    """MAE's loss (He et al.; HAP_SPEC.md "target"), written here for any
    H x W: each p x p patch's pixels (row-major patches, pixels in (y, x, c)
    order) normalised by their mean and unbiased variance + 1e-6, squared
    error averaged over the pixels, then over the masked patches."""
    B, C, H, W = imgs.shape
    target = imgs.reshape(B, C, H // p, p, W // p, p).permute(
        0, 2, 4, 3, 5, 1).reshape(B, (H // p) * (W // p), p * p * C)
    mean = target.mean(-1, keepdim=True)
    var = target.var(-1, keepdim=True)
    target = (target - mean) / (var + 1e-6)**.5
    per_patch = ((pred - target)**2).mean(-1)
    return (per_patch * mask).sum() / mask.sum()


def test_one_view_without_alignment_equals_mae_on_the_16x8_grid():
    """HAP with V=1 and no align loss is MAE on the rectangular 16 x 8 grid:
    mmpretrain's MAE encoder and decoder, given HAP's weights (HAP's own
    16 x 8 sin-cos position embeddings included), and the same random
    mask, give the loss of MAE's formula that HAP reports."""
    torch.manual_seed(0)
    hap = MODELS.build(_hap_cfg(img_size=(256, 128), views=1, align=False))
    hap.init_weights()
    # HAP's embeddings are its own rectangular sin-cos, not a square one
    assert torch.equal(hap.backbone.pos_embed,
                       rect_sincos_pos_embed((16, 8), 32))
    mae = MODELS.build(
        dict(
            type='MAE',
            backbone=dict(
                type='MAEViT', arch=TINY, img_size=(256, 128),
                mask_ratio=0.5),
            neck=dict(
                type='MAEPretrainDecoder',
                num_patches=128,
                embed_dim=32,
                decoder_embed_dim=16,
                decoder_depth=1,
                decoder_num_heads=2),
            head=dict(
                type='MAEPretrainHead',
                norm_pix=True,
                loss=dict(type='PixelReconstructionLoss', criterion='L2'))))
    # mmpretrain's own init builds square embeddings; HAP's weights instead
    mae.load_state_dict(hap.state_dict())
    assert mae.backbone.patch_resolution == (16, 8)
    x = torch.randn(3, 3, 256, 128)

    torch.manual_seed(123)
    latent, mae_mask, ids_restore = mae.backbone(x)
    mae_loss = _mae_loss_on_patches(mae.neck(latent, ids_restore), x,
                                    mae_mask)
    torch.manual_seed(123)  # MAEViT.random_masking draws torch.rand(B, L)
    keep = torch.rand(3, 128).argsort(1)[:, :64]
    mask = torch.ones(3, 128, dtype=torch.bool).scatter_(1, keep, False)
    assert torch.equal(mask, mae_mask.bool())
    hap_loss = hap.loss(x, _samples(mask[:, None]))
    assert set(hap_loss) == {'loss_rec'}
    assert hap_loss['loss_rec'].item() == pytest.approx(
        mae_loss.item(), rel=1e-5)


def test_hap_loss_is_mean_of_views_and_alignment_reaches_encoder():
    torch.manual_seed(0)
    hap = MODELS.build(_hap_cfg())
    hap.init_weights()
    x = torch.randn(4, 3, 64, 32)
    mask = _random_masks(4, 2, 8, 4, torch.Generator().manual_seed(1))
    losses = hap.loss(x, _samples(mask))
    align, hap.align_loss = hap.align_loss, None
    per_view = [
        hap.loss(x, _samples(mask[:, v:v + 1]))['loss_rec'] for v in range(2)
    ]
    hap.align_loss = align
    assert losses['loss_rec'].item() == pytest.approx(
        (per_view[0] + per_view[1]).item() / 2, rel=1e-5)
    hap.zero_grad()
    losses['loss_align'].backward()
    grad = hap.backbone.layers[0].attn.qkv.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    assert hap.neck.decoder_embed.weight.grad is None


@pytest.mark.parametrize('grid_mask', [True, False])
def test_views_one_after_another_give_the_batched_losses_and_grads(
        grid_mask):
    """``batch_views=False`` (the CPU-friendly path) computes the same
    losses and gradients as the batched views, for (V, h, w) and (V, N)
    masks."""
    torch.manual_seed(0)
    batched = MODELS.build(_hap_cfg())
    batched.init_weights()
    sequential = copy.deepcopy(batched)
    sequential.batch_views = False
    x = torch.randn(3, 3, 64, 32)
    mask = _random_masks(3, 2, 8, 4, torch.Generator().manual_seed(2))
    if grid_mask:
        mask = mask.reshape(3, 2, 4, 2)
    grads = []
    for model in (batched, sequential):
        losses = model.loss(x, _samples(mask))
        sum(losses.values()).backward()
        grads.append((losses, {
            n: p.grad.clone()
            for n, p in model.named_parameters() if p.grad is not None
        }))
    (loss_b, grad_b), (loss_s, grad_s) = grads
    for key in ('loss_rec', 'loss_align'):
        assert loss_s[key].item() == pytest.approx(loss_b[key].item(),
                                                   rel=1e-5), key
    assert grad_b.keys() == grad_s.keys() and len(grad_b) > 10
    for name in grad_b:
        torch.testing.assert_close(
            grad_s[name], grad_b[name], rtol=1e-4, atol=1e-6, msg=name)


def test_pos_embed_resize_keeps_cls_and_same_size_is_identity(tmp_path):
    src = MODELS.build(dict(type='HAPViT', arch=TINY, img_size=224))
    src.init_weights()
    with torch.no_grad():
        src.pos_embed.normal_()
    path = tmp_path / 'square.pth'
    torch.save({'state_dict': src.state_dict()}, path)
    dst = MODELS.build(
        dict(
            type='HAPViT',
            arch=TINY,
            img_size=(256, 128),
            init_cfg=dict(type='Pretrained', checkpoint=str(path))))
    dst.init_weights()
    assert dst.pos_embed.shape == (1, 1 + 128, 32)
    assert torch.equal(dst.pos_embed[:, 0], src.pos_embed[:, 0])
    # same grid: loading is exact
    same = MODELS.build(dict(type='HAPViT', arch=TINY, img_size=(256, 128)))
    sd = dst.state_dict()
    same.load_state_dict(copy.deepcopy(sd))
    assert torch.equal(same.pos_embed, dst.pos_embed)
    # the 16x8 pre-training grid resizes to 16x12 for 256x192 pose inputs
    pose = MODELS.build(dict(type='HAPViT', arch=TINY, img_size=(256, 192)))
    pose.load_state_dict(copy.deepcopy(sd))
    assert pose.pos_embed.shape == (1, 1 + 192, 32)
    assert torch.equal(pose.pos_embed[:, 0], dst.pos_embed[:, 0])


def test_pos_embed_of_unknown_grid_is_a_clear_error():
    vit = MODELS.build(
        dict(
            type='HAPViT',
            arch=TINY,
            img_size=(256, 128),
            pretrain_img_size=(256, 128)))
    sd = vit.state_dict()
    sd['pos_embed'] = torch.zeros(1, 1 + 7 * 5, 32)
    with pytest.raises(CheckpointLoadError, match='pos_embed.*35 patches'):
        vit.load_state_dict(sd)


def _to_timm(sd):
    out = {}
    for k, v in sd.items():
        k = re.sub(r'^patch_embed\.projection\.', 'patch_embed.proj.', k)
        k = re.sub(r'^layers\.(\d+)\.ln1\.', r'blocks.\1.norm1.', k)
        k = re.sub(r'^layers\.(\d+)\.ln2\.', r'blocks.\1.norm2.', k)
        k = re.sub(r'^layers\.(\d+)\.attn\.', r'blocks.\1.attn.', k)
        k = re.sub(r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.',
                   k)
        k = re.sub(r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.',
                   k)
        k = re.sub(r'^ln1\.', 'norm.', k)
        out[k] = v
    return out


def test_loads_timm_named_release_checkpoint_exactly(tmp_path):
    src = MODELS.build(dict(type='HAPViT', arch=TINY, img_size=(256, 128)))
    src.init_weights()
    timm = _to_timm(src.state_dict())
    timm['decoder_embed.weight'] = torch.zeros(3, 3)
    timm['mask_token'] = torch.zeros(1, 1, 16)
    path = tmp_path / 'release.pth'
    torch.save({'model': timm}, path)
    dst = MODELS.build(dict(type='HAPViT', arch=TINY, img_size=(256, 128)))
    missing, unexpected = dst.load_pretrained(str(path))
    assert missing == [] and unexpected == []
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k


def test_checkpoint_shape_mismatch_names_key_and_shapes(tmp_path):
    src = MODELS.build(dict(type='HAPViT', arch=TINY, img_size=(256, 128)))
    sd = src.state_dict()
    sd['layers.0.attn.qkv.weight'] = torch.zeros(5, 32)
    path = tmp_path / 'bad.pth'
    torch.save(sd, path)
    dst = MODELS.build(dict(type='HAPViT', arch=TINY, img_size=(256, 128)))
    with pytest.raises(CheckpointLoadError,
                       match=r'layers\.0\.attn\.qkv\.weight.*\(5, 32\).*'
                       r'\(96, 32\)'):
        dst.load_pretrained(str(path))


def test_checkpoint_with_pickled_objects_needs_explicit_opt_in(tmp_path):
    src = MODELS.build(dict(type='HAPViT', arch=TINY, img_size=(256, 128)))
    path = tmp_path / 'legacy.pth'
    torch.save({'state_dict': src.state_dict(), 'meta': {'x': object()}},
               path)
    dst = MODELS.build(dict(type='HAPViT', arch=TINY, img_size=(256, 128)))
    with pytest.raises(CheckpointLoadError, match='unsafe'):
        dst.load_pretrained(str(path))
    dst.load_pretrained(str(path), unsafe_load=True)


@pytest.mark.parametrize('kwargs', [
    dict(img_size=(250, 128)),
    dict(img_size=(256, 120)),
])
def test_backbone_input_size_must_divide_by_patch(kwargs):
    with pytest.raises(ValueError, match='img_size'):
        MODELS.build(dict(type='HAPViT', arch=TINY, **kwargs))


def test_align_infonce_is_logged_unweighted_and_left_out_of_the_total():
    """``loss_align`` is weighted and in the total; ``align_infonce`` is the
    unweighted value (the release's ``loss_ali``), logged but not summed."""
    torch.manual_seed(0)
    hap = MODELS.build(_hap_cfg())
    hap.init_weights()
    x = torch.randn(4, 3, 64, 32)
    mask = _random_masks(4, 2, 8, 4, torch.Generator().manual_seed(3))
    losses = hap.loss(x, _samples(mask))
    infonce = losses['align_infonce']
    assert not infonce.requires_grad
    assert losses['loss_align'].item() == pytest.approx(
        0.05 * infonce.item(), rel=1e-6)
    total, log_vars = hap.parse_losses(losses)
    assert total.item() == pytest.approx(
        (losses['loss_rec'] + losses['loss_align']).item(), rel=1e-6)
    assert log_vars['align_infonce'].item() == pytest.approx(infonce.item())


def test_views_run_one_after_another_on_cpu_and_batched_on_cuda_by_default():
    """``batch_views=None`` (the default) picks by the inputs' device; an
    explicit True / False is kept. On CPU the encoder runs once per view."""
    torch.manual_seed(0)
    hap = MODELS.build(_hap_cfg())
    hap.init_weights()
    assert hap.batch_views is None
    assert not hap.views_batched(torch.device('cpu'))
    assert hap.views_batched(torch.device('cuda', 0))
    calls = []
    hap.backbone.register_forward_hook(lambda *args: calls.append(1))
    x = torch.randn(2, 3, 64, 32)
    mask = _random_masks(2, 2, 8, 4, torch.Generator().manual_seed(4))
    hap.loss(x, _samples(mask))
    assert len(calls) == 2
    hap.batch_views = True
    assert hap.views_batched(torch.device('cpu'))
    calls.clear()
    hap.loss(x, _samples(mask))
    assert len(calls) == 1
    hap.batch_views = False
    assert not hap.views_batched(torch.device('cuda'))
