"""Multi-dataset pose (RELEASE_DOWNSTREAM.md 3.2, 3.4): HAPViTMoE routes each
sample through its dataset's expert, experts start from the last rows of the
checkpoint's fc2, the heads' losses are the release's (whole-batch MSE mean,
other datasets' samples weighted 0, summed), and split_moe.py writes plain
checkpoints that the single-dataset models load strictly and that compute
what the MoE model computes."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData, PixelData

from hap_mm.models import HAPViT, HAPViTMoE

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / 'configs' / 'downstream' / 'pose'
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
PART = 8  # 24 shared + 8 per expert
MULTI = 'td-hm_hapvit-moe-b_8xb128-210e_coco-aic-mpii-256x192.py'
SINGLE = 'td-hm_hapvit-b_8xb64-210e_{}-256x192.py'
DATASETS = (('coco', 17), ('aic', 14), ('mpii', 16))

pytestmark = pytest.mark.usefixtures('keep_default_scope', 'one_torch_thread')


def tiny_moe(**kwargs) -> HAPViTMoE:
    return HAPViTMoE(
        arch=TINY, img_size=(64, 48), part_features=PART,
        with_cls_token=False, patch_cfg=dict(padding=2), **kwargs)


def randomize(module: torch.nn.Module, seed: int) -> None:
    """Every parameter N(0, 0.3), BN running statistics random too."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.3)
        for name, b in module.named_buffers():
            if name.endswith('running_mean'):
                b.normal_(0, 0.1)
            elif name.endswith('running_var'):
                b.uniform_(0.5, 1.5)


def build_pose_model(name: str, **backbone_options):
    """The config's model with a tiny ViT (8-wide experts), 16-channel
    deconvolutions, no checkpoint, in eval mode."""
    from mmpose.registry import MODELS
    cfg = Config.fromfile(CONFIGS / name)
    backbone = cfg.model.backbone
    backbone.update(arch=TINY, init_cfg=None, **backbone_options)
    if backbone.type.endswith('MoE'):
        backbone.part_features = PART
    for head in [cfg.model.head, *cfg.model.get('aux_heads', [])]:
        head.update(in_channels=TINY['embed_dims'],
                    deconv_out_channels=(16, 16))
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg.model)
    model.eval()
    return model


def test_a_sample_uses_only_its_datasets_expert():
    model = tiny_moe()
    model.eval()
    randomize(model, 0)
    x = torch.randn(3, 3, 64, 48)
    idx = torch.tensor([0, 1, 2])
    with torch.no_grad():
        before = model(x, dataset_idx=idx)[0]
        for layer in model.expert_layers():  # experts 0 and 2 change
            for k in (0, 2):
                layer.experts[k].weight.normal_(0, 0.3)
                layer.experts[k].bias.normal_(0, 0.3)
        after = model(x, dataset_idx=idx)[0]
        assert torch.equal(after[1], before[1])  # dataset 1: unchanged
        assert not torch.allclose(after[0], before[0])
        assert not torch.allclose(after[2], before[2])
        for layer in model.expert_layers():  # now expert 1
            layer.experts[1].weight.normal_(0, 0.3)
        again = model(x, dataset_idx=idx)[0]
        assert not torch.allclose(again[1], after[1])
        # the same image through another dataset's expert differs
        other = model(x, dataset_idx=torch.tensor([0, 0, 2]))[0]
        assert not torch.allclose(other[1], again[1])
    with pytest.raises(ValueError, match='dataset_idx'):
        model(x)


def test_experts_start_from_the_last_rows_of_the_checkpoint_fc2(
        release_checkpoint):
    checkpoint, encoder, _ = release_checkpoint(TINY, seed=3)
    model = tiny_moe(init_cfg=dict(
        type='Pretrained', checkpoint=str(checkpoint), prefix='backbone.'))
    model.init_weights()
    shared = TINY['embed_dims'] - PART
    for i, layer in enumerate(model.expert_layers()):
        for name in ('weight', 'bias'):
            fc2 = encoder[f'layers.{i}.ffn.layers.1.{name}']
            assert torch.equal(getattr(layer.shared, name), fc2[:shared])
            for expert in layer.experts:
                assert torch.equal(getattr(expert, name), fc2[shared:])
    # so, before training, every dataset's route is the plain ViT
    plain = HAPViT(arch=TINY, img_size=(64, 48), with_cls_token=False,
                   patch_cfg=dict(padding=2), init_cfg=dict(
                       type='Pretrained', checkpoint=str(checkpoint),
                       prefix='backbone.'))
    plain.init_weights()
    model.eval()
    plain.eval()
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        ref = plain(x)[0]
        for k in range(3):
            torch.testing.assert_close(
                model(x, dataset_idx=torch.full((2, ), k))[0], ref)


def _sample(name: str, heatmaps: torch.Tensor, weights: torch.Tensor):
    from mmpose.structures import PoseDataSample
    sample = PoseDataSample(metainfo=dict(dataset_name=name))
    sample.gt_fields = PixelData(heatmaps=heatmaps)
    sample.gt_instance_labels = InstanceData(keypoint_weights=weights[None])
    return sample


def test_each_head_loss_is_the_whole_batch_mean_over_its_own_samples():
    """3.4: every head runs on the whole batch, the targets and weights of
    other datasets' samples are zero, the MSE mean is over the whole batch
    (B x 17 x H x W), and the three losses are summed."""
    model = build_pose_model(MULTI, drop_path_rate=0.)  # deterministic
    model.train()
    names = ['aic', 'coco', 'mpii', 'aic', 'coco']
    torch.manual_seed(0)
    gt = torch.rand(5, 17, 64, 48)
    weights = (torch.rand(5, 17) > 0.3).float()
    weights[[0, 3], 14:] = 0  # AIC / MPII padding: weight 0
    weights[2, 16:] = 0
    samples = [_sample(n, g, w) for n, g, w in zip(names, gt, weights)]
    x = torch.randn(5, 3, 256, 192)
    losses = model.loss(x, samples)
    # the reference: each sample's features through each head (train mode:
    # BN on the whole batch, as the release)
    with torch.no_grad():
        for k, (name, _) in enumerate(DATASETS):
            idx = torch.tensor([dict(coco=0, aic=1, mpii=2)[n]
                                for n in names])
            feats = model.backbone(x, dataset_idx=idx)
            pred = model.heads[k](feats)
            own = torch.tensor([n == name for n in names]).float()
            w = weights * own[:, None]
            ref = (((pred - gt)**2) * w[:, :, None, None]).sum() / pred.numel()
            torch.testing.assert_close(
                losses[f'loss_kpt_{name}'].detach(), ref, rtol=1e-4,
                atol=1e-8)


def test_split_checkpoints_load_strictly_and_compute_the_moe_outputs(
        tmp_path, script_main):
    split_moe_main = script_main('tools/model_converters/split_moe.py')
    moe = build_pose_model(MULTI)
    randomize(moe, 5)
    torch.save({'meta': {}, 'state_dict': moe.state_dict()},
               tmp_path / 'moe.pth')
    out_dir = tmp_path / 'split'
    args = [tmp_path / 'moe.pth', out_dir]
    split_moe_main(args)
    x = torch.randn(2, 3, 256, 192)
    outputs = []
    for k, (name, joints) in enumerate(DATASETS):
        plain = build_pose_model(SINGLE.format(name))
        state = torch.load(out_dir / f'{name}.pth', weights_only=True)
        plain.load_state_dict(state['state_dict'], strict=True)
        with torch.no_grad():
            ref = moe.heads[k](moe.backbone(
                x, dataset_idx=torch.full((2, ), k)))[:, :joints]
            out = plain._forward(x)
        assert out.shape == (2, joints, 64, 48)
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-6)
        outputs.append(out)
    assert not torch.allclose(outputs[0][:, :14], outputs[1])
    # outputs are never overwritten silently
    with pytest.raises(SystemExit, match='exist'):
        split_moe_main(args)
    # not an MoE checkpoint: a clear error
    with pytest.raises(SystemExit, match='not a HAPViTMoE model'):
        split_moe_main([out_dir / 'coco.pth', tmp_path / 'again'])
    assert not (tmp_path / 'again').exists()
