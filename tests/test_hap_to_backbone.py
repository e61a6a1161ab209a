"""The checkpoint converter: exact tensors, host-loadable output, safety."""
import re

import pytest
import torch
from mmpretrain.registry import MODELS

import hap_mm  # noqa: F401

TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
TOOL = 'tools/model_converters/hap_to_backbone.py'


def _vit(img_size=(256, 128)):
    vit = MODELS.build(dict(type='HAPViT', arch=TINY, img_size=img_size))
    vit.init_weights()
    with torch.no_grad():
        vit.pos_embed.normal_()
    return vit


def _timm(sd):
    """mmpretrain ViT names -> the release's timm names."""
    rules = [(r'^patch_embed\.projection\.', 'patch_embed.proj.'),
             (r'^layers\.(\d+)\.ln1\.', r'blocks.\1.norm1.'),
             (r'^layers\.(\d+)\.ln2\.', r'blocks.\1.norm2.'),
             (r'^layers\.(\d+)\.attn\.', r'blocks.\1.attn.'),
             (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
             (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
             (r'^ln1\.', 'norm.')]
    out = {}
    for k, v in sd.items():
        for pattern, repl in rules:
            k = re.sub(pattern, repl, k)
        out[k] = v
    return out


def _release_checkpoint(tmp_path, vit):
    model = _timm(vit.state_dict())
    model['decoder_embed.weight'] = torch.zeros(16, 32)
    model['decoder_pos_embed'] = torch.zeros(1, 129, 16)
    model['mask_token'] = torch.zeros(1, 1, 16)
    path = tmp_path / 'release.pth'
    torch.save({'model': model, 'epoch': 399}, path)
    return path


def test_release_checkpoint_round_trips_exactly(tool, tmp_path):
    vit = _vit()
    dst = tmp_path / 'backbone.pth'
    proc = tool([TOOL, _release_checkpoint(tmp_path, vit), dst])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'dropped 3' in proc.stdout and 'mask_token' in proc.stdout
    out = torch.load(dst, weights_only=True)['state_dict']
    expected = {f'backbone.{k}': v for k, v in vit.state_dict().items()}
    assert set(out) == set(expected)
    for k, v in expected.items():
        assert torch.equal(out[k], v), k


def test_converted_weights_load_through_init_cfg_without_key_errors(
        tool, tmp_path):
    vit = _vit()
    dst = tmp_path / 'backbone.pth'
    assert tool([TOOL, _release_checkpoint(tmp_path, vit), dst]).returncode == 0
    host = MODELS.build(
        dict(
            type='HAPViT',
            arch=TINY,
            img_size=(256, 128),
            init_cfg=dict(
                type='Pretrained', checkpoint=str(dst), prefix='backbone.')))
    missing, unexpected = host.load_pretrained(str(dst), prefix='backbone.')
    assert missing == [] and unexpected == []
    for k, v in vit.state_dict().items():
        assert torch.equal(host.state_dict()[k], v), k


def test_hap_training_checkpoint_converts_and_resizes_for_pose(
        tool, tmp_path):
    vit = _vit()
    ckpt = {
        'state_dict': {
            **{f'backbone.{k}': v for k, v in vit.state_dict().items()},
            'neck.mask_token': torch.zeros(1, 1, 16),
        },
        'meta': {'epoch': 3},
    }
    src = tmp_path / 'epoch_3.pth'
    torch.save(ckpt, src)
    dst = tmp_path / 'pose.pth'
    proc = tool([TOOL, src, dst, '--img-size', '256', '192'])
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = torch.load(dst, weights_only=True)
    pos = out['state_dict']['backbone.pos_embed']
    assert pos.shape == (1, 1 + 16 * 12, 32)
    assert torch.equal(pos[:, 0], vit.pos_embed[:, 0])  # CLS kept
    assert out['meta']['grid'] == [16, 12]
    pose = MODELS.build(dict(type='HAPViT', arch=TINY, img_size=(256, 192)))
    assert pose.load_pretrained(str(dst), prefix='backbone.') == ([], [])


def test_refuses_to_overwrite_without_force(tool, tmp_path):
    src = _release_checkpoint(tmp_path, _vit())
    dst = tmp_path / 'out.pth'
    dst.write_bytes(b'user file')
    proc = tool([TOOL, src, dst])
    assert proc.returncode != 0 and '--force' in proc.stderr
    assert dst.read_bytes() == b'user file'
    assert tool([TOOL, src, dst, '--force']).returncode == 0
    assert torch.load(dst, weights_only=True)['state_dict']
    assert not list(tmp_path.glob('*.tmp'))


def test_pickled_objects_in_source_need_unsafe_load(tool, tmp_path):
    vit = _vit()
    src = tmp_path / 'legacy.pth'
    torch.save({'model': _timm(vit.state_dict()), 'args': object()}, src)
    proc = tool([TOOL, src, tmp_path / 'a.pth'])
    assert proc.returncode != 0 and 'unsafe' in proc.stderr
    proc = tool([TOOL, src, tmp_path / 'b.pth', '--unsafe-load'])
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize('img_size', [('250', '128')])
def test_bad_target_size_is_named(tool, tmp_path, img_size):
    src = _release_checkpoint(tmp_path, _vit())
    proc = tool([TOOL, src, tmp_path / 'x.pth', '--img-size', *img_size])
    assert proc.returncode != 0 and 'img_size' in proc.stderr
