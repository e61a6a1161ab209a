"""The checkpoint converter: exact tensors, host-loadable output, safety;
and hap_mm's host integrations importing without the hosts."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.logging import MessageHub
from mmpretrain.models.utils import resize_pos_embed
from mmpretrain.registry import MODELS

from hap_mm.models.utils import CheckpointLoadError
from hap_mm.models.utils.backbone_converter import (
    convert_checkpoint_file,
    summarize_keys,
)

REPO = Path(__file__).resolve().parents[1]
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
TOOL = 'tools/model_converters/hap_to_backbone.py'


@pytest.fixture(scope='module')
def tool_main():
    """The converter tool's ``main(argv)``, imported from its file."""
    spec = importlib.util.spec_from_file_location('hap_to_backbone',
                                                  REPO / TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _vit(img_size=(256, 128)):
    vit = MODELS.build(dict(type='HAPViT', arch=TINY, img_size=img_size))
    with torch.no_grad():
        for p in vit.parameters():
            p.normal_(0, 0.02)
    return vit


@pytest.fixture
def release_file(tmp_path, release_names):
    """``make(vit)``: ``vit`` saved in the authors' release layout (timm
    encoder names under 'model', with the MAE decoder and mask token that
    the converter must drop) as ``tmp_path/release.pth``."""

    def make(vit):
        return _release_checkpoint(tmp_path, release_names(vit.state_dict()))

    return make


def _release_checkpoint(tmp_path, model):
    """``model`` (release names) plus decoder and mask token, saved."""
    assert 'blocks.1.attn.qkv.weight' in model and 'norm.bias' in model
    model['decoder_embed.weight'] = torch.zeros(16, 32)
    model['decoder_pos_embed'] = torch.zeros(1, 129, 16)
    model['mask_token'] = torch.zeros(1, 1, 16)
    path = tmp_path / 'release.pth'
    torch.save({'model': model, 'epoch': 399}, path)
    return path


def _load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def test_cli_converts_release_checkpoint_exactly_and_says_what_it_did(
        tool, tmp_path, release_file):
    vit = _vit()
    dst = tmp_path / 'backbone.pth'
    proc = tool([TOOL, release_file(vit), dst])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'kept 30 tensors as backbone.*' in proc.stdout
    assert 'dropped 3' in proc.stdout
    for name in ('mask_token', 'decoder_embed', 'decoder_pos_embed'):
        assert name in proc.stdout
    out = _load(dst)
    expected = {f'backbone.{k}': v for k, v in vit.state_dict().items()}
    assert set(out['state_dict']) == set(expected)
    for k, v in expected.items():
        assert torch.equal(out['state_dict'][k], v), k
    assert out['meta']['src_grid'] == out['meta']['grid'] == [16, 8]
    assert out['meta']['source'] == str(tmp_path / 'release.pth')


def test_converted_weights_load_through_init_cfg_without_key_errors(
        tool_main, tmp_path, release_file):
    vit = _vit()
    dst = tmp_path / 'backbone.pth'
    tool_main([str(release_file(vit)), str(dst)])
    host = MODELS.build(
        dict(
            type='HAPViT',
            arch=TINY,
            img_size=(256, 128),
            init_cfg=dict(
                type='Pretrained', checkpoint=str(dst), prefix='backbone.')))
    host.init_weights()  # loads init_cfg's checkpoint
    for k, v in vit.state_dict().items():
        assert torch.equal(host.state_dict()[k], v), k
    assert host.load_pretrained(str(dst), prefix='backbone.') == ([], [])


def test_hap_training_checkpoint_converts_and_resizes_for_pose(
        tool_main, tmp_path, capsys):
    """A hap_mm checkpoint (backbone.* + decoder neck.* + head, with the
    message hub mmengine saves) loads weights-only; --img-size resizes
    pos_embed bicubically, CLS kept."""
    vit = _vit()
    hub = MessageHub.get_instance('hap_to_backbone_test')
    hub.update_scalar('train/loss', 1.5)
    ckpt = {
        'state_dict': {
            **{f'backbone.{k}': v for k, v in vit.state_dict().items()},
            'neck.mask_token': torch.zeros(1, 1, 16),
            'neck.decoder_blocks.0.ln1.weight': torch.zeros(16),
            'head.loss_module.temperature': torch.tensor(0.2),
        },
        'message_hub': hub.state_dict(),
        'meta': {'epoch': 3},
    }
    src = tmp_path / 'epoch_3.pth'
    torch.save(ckpt, src)
    dst = tmp_path / 'pose.pth'
    tool_main([str(src), str(dst), '--img-size', '256', '192'])
    assert 'resized from grid [16, 8] to [16, 12]' in capsys.readouterr().out
    out = _load(dst)
    pos = out['state_dict']['backbone.pos_embed']
    assert pos.shape == (1, 1 + 16 * 12, 32)
    assert torch.equal(pos[:, 0], vit.pos_embed[:, 0])  # CLS kept
    assert torch.equal(
        pos, resize_pos_embed(vit.pos_embed, (16, 8), (16, 12), 'bicubic', 1))
    assert out['meta']['grid'] == [16, 12]
    assert out['meta']['img_size'] == [256, 192]
    assert not any(k.startswith(('backbone.neck', 'backbone.head'))
                   for k in out['state_dict'])
    pose = MODELS.build(dict(type='HAPViT', arch=TINY, img_size=(256, 192)))
    assert pose.load_pretrained(str(dst), prefix='backbone.') == ([], [])
    assert torch.equal(pose.pos_embed, pos)


def test_imagenet_mae_checkpoints_convert_in_both_namings(
        tmp_path, release_names):
    """ImageNet MAE: timm names and a square 14x14 grid (the official
    release), or mmpretrain names (backbone.* beside neck.* / head.*)."""
    square = _vit(img_size=(224, 224))
    timm_src, mm_src = tmp_path / 'mae_timm.pth', tmp_path / 'mae_mm.pth'
    torch.save({'model': release_names(square.state_dict())}, timm_src)
    torch.save({'state_dict': {
        **{f'backbone.{k}': v for k, v in square.state_dict().items()},
        'neck.decoder_pos_embed': torch.zeros(1, 197, 16),
        'head.weight': torch.zeros(3)}}, mm_src)
    for src in (timm_src, mm_src):
        dst = tmp_path / f'{src.stem}_out.pth'
        report = convert_checkpoint_file(str(src), str(dst))
        assert report['meta']['src_grid'] == [14, 14]
        out = _load(dst)['state_dict']
        assert set(out) == {f'backbone.{k}' for k in square.state_dict()}
        for k, v in square.state_dict().items():
            assert torch.equal(out[f'backbone.{k}'], v), k
        person = MODELS.build(dict(type='HAPViT', arch=TINY))  # 256x128
        assert person.load_pretrained(str(dst), 'backbone.') == ([], [])
        assert torch.equal(person.pos_embed[:, 0], square.pos_embed[:, 0])
    assert len(_load(tmp_path / 'mae_mm_out.pth')['state_dict']) == 30


def test_refuses_to_overwrite_without_force(tool_main, tmp_path,
                                            release_file):
    src = release_file(_vit())
    dst = tmp_path / 'out.pth'
    dst.write_bytes(b'user file')
    with pytest.raises(SystemExit, match='--force'):
        tool_main([str(src), str(dst)])
    assert dst.read_bytes() == b'user file'
    tool_main([str(src), str(dst), '--force'])
    assert _load(dst)['state_dict']
    assert not list(tmp_path.glob('*.tmp'))


def test_failed_write_leaves_destination_and_no_temp_file(
        tmp_path, monkeypatch, release_file):
    src = release_file(_vit())
    dst = tmp_path / 'out.pth'
    dst.write_bytes(b'previous')

    def broken_save(obj, f, *args, **kwargs):
        Path(f).write_bytes(b'half')
        raise OSError('disk full')

    monkeypatch.setattr(torch, 'save', broken_save)
    with pytest.raises(OSError, match='disk full'):
        convert_checkpoint_file(str(src), str(dst), force=True)
    assert dst.read_bytes() == b'previous'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out.pth',
                                                          'release.pth']


def test_pickled_objects_in_source_need_unsafe_load(tool_main, tmp_path,
                                                    release_names):
    vit = _vit()
    src = tmp_path / 'legacy.pth'
    torch.save({'model': release_names(vit.state_dict()), 'args': object()},
               src)
    with pytest.raises(SystemExit, match='unsafe'):
        tool_main([str(src), str(tmp_path / 'a.pth')])
    assert not (tmp_path / 'a.pth').exists()
    tool_main([str(src), str(tmp_path / 'b.pth'), '--unsafe-load'])
    assert len(_load(tmp_path / 'b.pth')['state_dict']) == 30


def test_bad_target_size_and_empty_checkpoints_are_named(
        tool_main, tmp_path, release_file):
    src = release_file(_vit())
    with pytest.raises(SystemExit, match='img_size'):
        tool_main([str(src), str(tmp_path / 'x.pth'), '--img-size', '250',
                   '128'])
    torch.save({'state_dict': {'head.fc.weight': torch.zeros(2)}},
               tmp_path / 'head_only.pth')
    with pytest.raises(CheckpointLoadError, match='no ViT encoder weights'):
        convert_checkpoint_file(str(tmp_path / 'head_only.pth'),
                                str(tmp_path / 'y.pth'))
    assert not (tmp_path / 'x.pth').exists()
    assert not (tmp_path / 'y.pth').exists()


def test_key_summary_groups_blocks():
    keys = ['cls_token', 'blocks.0.norm1.weight', 'blocks.0.norm1.bias',
            'blocks.11.mlp.fc2.bias', 'norm.weight', 'norm.bias']
    assert summarize_keys(keys) == \
        'cls_token, blocks.0-11.* (3), norm.* (2)'


def test_hap_mm_and_its_host_integrations_import_without_the_hosts():
    """mmpose, mmseg and mmdet made unimportable: hap_mm still imports and
    registers HAPViT, the pyramid neck and the lr-decay constructor."""
    code = (
        'import sys\n'
        "for name in ('mmpose', 'mmseg', 'mmdet'):\n"
        '    sys.modules[name] = None\n'
        'import hap_mm\n'
        'from mmpretrain.registry import MODELS, '
        'OPTIM_WRAPPER_CONSTRUCTORS\n'
        "assert MODELS.get('HAPViT') and MODELS.get('SimpleFeaturePyramid')\n"
        "assert OPTIM_WRAPPER_CONSTRUCTORS.get("
        "'HAPLayerDecayOptimWrapperConstructor')\n"
        "assert not any(m.split('.')[0] in ('mmpose', 'mmseg', 'mmdet') "
        'and sys.modules[m] is not None for m in sys.modules)\n')
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_non_finite_weights_are_refused_unless_allowed(tool_main, tmp_path,
                                                       release_names):
    """A diverged run's checkpoint (NaN / inf in the encoder) is not turned
    into backbone weights unless --allow-nonfinite."""
    vit = _vit()
    model = release_names(vit.state_dict())
    model['blocks.0.attn.qkv.weight'][0, 0] = float('nan')
    model['norm.weight'][1] = float('inf')
    src = tmp_path / 'diverged.pth'
    torch.save({'model': model}, src)
    dst = tmp_path / 'out.pth'
    with pytest.raises(SystemExit) as info:
        tool_main([str(src), str(dst)])
    message = str(info.value)
    assert '\n' not in message and str(src) in message
    assert 'non-finite' in message and '2 of 30' in message
    assert 'blocks.0.attn.qkv.weight' in message and 'norm.weight' in message
    assert '--allow-nonfinite' in message
    assert not dst.exists()
    tool_main([str(src), str(dst), '--allow-nonfinite'])
    out = _load(dst)['state_dict']
    assert torch.isnan(out['backbone.layers.0.attn.qkv.weight'][0, 0])


def test_source_and_destination_the_same_file_is_refused_even_with_force(
        tool_main, tmp_path, release_file, monkeypatch):
    src = release_file(_vit())
    before = src.read_bytes()
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'sub').mkdir()
    (tmp_path / 'link.pth').symlink_to(src)
    for dst in (str(src), 'release.pth', 'sub/../release.pth', 'link.pth'):
        with pytest.raises(SystemExit) as info:
            tool_main([str(src), dst, '--force'])
        assert 'same file' in str(info.value), dst
        assert src.read_bytes() == before
    with pytest.raises(SystemExit, match='same file'):
        tool_main(['link.pth', str(src), '--force'])
    assert src.read_bytes() == before


def test_unusable_files_are_one_line_errors_naming_the_file(
        tool_main, tmp_path, release_file):
    src = release_file(_vit())
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    tensor = tmp_path / 'tensor.pth'
    torch.save(torch.zeros(3), tensor)
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(src.read_bytes()[:5000])
    folder = tmp_path / 'folder'
    folder.mkdir()
    cases = [([empty, tmp_path / 'a.pth'], empty, 'is empty'),
             ([tensor, tmp_path / 'b.pth'], tensor, 'holds a Tensor'),
             ([truncated, tmp_path / 'c.pth'], truncated, 'is truncated'),
             ([src, folder, '--force'], folder, 'is a directory')]
    for args, named, reason in cases:
        with pytest.raises(SystemExit) as info:
            tool_main([str(a) for a in args])
        message = str(info.value)
        assert message.startswith('error: ') and '\n' not in message, message
        assert str(named) in message and reason in message, message
    assert not list(folder.iterdir())
    assert not any((tmp_path / n).exists() for n in ('a.pth', 'b.pth', 'c.pth'))
