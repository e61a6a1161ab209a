"""The picture tools run on the demo config and checkpoint (make demo's last
step) and draw every panel: crop, parts and one mask per view; original and
a masked input plus a reconstruction per view."""
from pathlib import Path

import mmcv

from hap_mm.models.utils.backbone_converter import convert_checkpoint_file

CONFIG = 'configs/hap/hap_demo.py'


def _pictures(folder: Path, suffix: str) -> list:
    paths = sorted(folder.glob(f'*_{suffix}.png'))
    return [mmcv.imread(str(p)) for p in paths]


def test_show_masks_draws_a_panel_per_view(tool, tmp_path):
    proc = tool([
        'tools/visualization/show_masks.py', CONFIG, '--num', '3', '--out',
        tmp_path
    ])
    assert proc.returncode == 0, proc.stderr[-3000:]
    pictures = _pictures(tmp_path, 'masks')
    assert len(pictures) == 3
    for img in pictures:
        # crop, parts, view 1, view 2: four 128-px-wide panels at least
        assert img.shape[0] >= 256 and img.shape[1] >= 4 * 128
    assert str(tmp_path) in proc.stdout


def test_show_reconstruction_of_a_demo_checkpoint(tool, train_demo, tmp_path):
    work = tmp_path / 'work'
    train_demo(work, 'train_cfg.max_epochs=1',
               'default_hooks.checkpoint.interval=1')
    ckpt = (work / 'last_checkpoint').read_text().strip()
    out = tmp_path / 'recon'
    proc = tool([
        'tools/visualization/show_reconstruction.py', CONFIG, ckpt, '--num',
        '2', '--out', out
    ])
    assert proc.returncode == 0, proc.stderr[-3000:]
    pictures = _pictures(out, 'reconstruction')
    assert len(pictures) == 2
    for img in pictures:
        # original + (masked, reconstruction) x 2 views
        assert img.shape[0] >= 256 and img.shape[1] >= 5 * 128
    # the same checkpoint converted to backbone-only weights: a clear error
    backbone = tmp_path / 'backbone.pth'
    convert_checkpoint_file(ckpt, str(backbone))
    proc = tool([
        'tools/visualization/show_reconstruction.py', CONFIG, backbone,
        '--out', tmp_path / 'recon2'
    ])
    assert proc.returncode != 0
    assert 'not a pre-training checkpoint' in proc.stderr
    assert str(backbone) in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not (tmp_path / 'recon2').exists()
