"""Checkpoints survive kills and full disks, auto-resume picks the right one,
diverged or mismatched runs stop with a clear error (issue #22)."""
import logging
import math
import os
import signal
from pathlib import Path

import pytest
import torch

from hap_mm.engine.runner.hap_runner import latest_checkpoint
from hap_mm.models.utils import CheckpointLoadError

CONFIG = 'configs/hap/hap_demo.py'
HELPER = Path(__file__).parent / 'helpers' / 'faulty_save.py'
# one checkpoint kept, one per epoch, no data workers (quicker to start)
KEEP_ONE = ('default_hooks.checkpoint.interval=1',
            'default_hooks.checkpoint.max_keep_ckpts=1',
            'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False')


def _epoch_of(path: Path) -> int:
    """The epoch recorded in a checkpoint (it must load completely)."""
    ckpt = torch.load(path, map_location='cpu', weights_only=False)
    return ckpt['meta']['epoch']


def _files(work: Path) -> list:
    """Files of a work directory but the config mmengine copies there."""
    return sorted(p.name for p in work.iterdir()
                  if p.is_file() and p.suffix != '.py')


def _faulty_train(tool, work, mode, name, *options):
    return tool([HELPER, mode, name, CONFIG, '--work-dir', work,
                 '--cfg-options', *options])


def test_kill_9_during_a_save_keeps_the_previous_checkpoint(
        tool, train_demo, tmp_path):
    """max_keep_ckpts=1, killed while writing epoch_2.pth: epoch_1.pth is
    still there and complete, last_checkpoint names it, and --resume
    continues from epoch 1 (and clears the partial file)."""
    work = tmp_path / 'work'
    proc = _faulty_train(tool, work, 'kill', 'epoch_2.pth',
                         'train_cfg.max_epochs=3', *KEEP_ONE)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert _epoch_of(work / 'epoch_1.pth') == 1
    assert (work / 'last_checkpoint').read_text().strip() == \
        str(work / 'epoch_1.pth')
    assert not (work / 'epoch_2.pth').exists()
    out = train_demo(work, 'train_cfg.max_epochs=3', *KEEP_ONE, resume=True)
    assert 'resumed epoch: 1' in out.stdout + out.stderr
    assert _files(work) == ['epoch_3.pth', 'last_checkpoint']
    assert _epoch_of(work / 'epoch_3.pth') == 3


def test_full_disk_during_a_save_fails_naming_the_file_and_keeps_the_previous(
        tool, tmp_path):
    work = tmp_path / 'work'
    proc = _faulty_train(tool, work, 'enospc', 'epoch_2.pth',
                         'train_cfg.max_epochs=3', *KEEP_ONE)
    assert proc.returncode not in (0, -signal.SIGKILL), proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert 'epoch_2.pth' in last and 'No space left on device' in last, last
    assert _files(work) == ['epoch_1.pth', 'last_checkpoint']  # no .tmp
    assert _epoch_of(work / 'epoch_1.pth') == 1
    assert (work / 'last_checkpoint').read_text().strip() == \
        str(work / 'epoch_1.pth')


def _fake_checkpoint(path: Path, epoch: int, iters_per_epoch: int = 3):
    torch.save({'meta': {'epoch': epoch, 'iter': epoch * iters_per_epoch},
                'state_dict': {'w': torch.full((64, ), float(epoch))}}, path)


def test_auto_resume_picks_the_latest_recorded_epoch_not_the_newest_file(
        tmp_path, caplog):
    """epochs 1-4, epoch_1.pth touched last, no usable last_checkpoint:
    epoch 4; epoch_4.pth truncated: epoch 3, and the log names epoch_4."""
    for epoch in range(1, 5):
        _fake_checkpoint(tmp_path / f'epoch_{epoch}.pth', epoch)
    now = os.path.getmtime(tmp_path / 'epoch_4.pth')
    os.utime(tmp_path / 'epoch_1.pth', (now + 60, now + 60))
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_4.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'gone.pth'))
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_4.pth')

    data = (tmp_path / 'epoch_4.pth').read_bytes()
    (tmp_path / 'epoch_4.pth').write_bytes(data[:len(data) // 2])
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_4.pth'))
    logger = logging.getLogger('test_checkpoint_reliability')
    with caplog.at_level(logging.WARNING, logger=logger.name):
        picked = latest_checkpoint(str(tmp_path), logger)
    assert picked == str(tmp_path / 'epoch_3.pth')
    skipped = [r.getMessage() for r in caplog.records
               if 'epoch_4.pth' in r.getMessage()]
    assert skipped and 'truncated' in skipped[0]


def test_no_intact_checkpoint_to_resume_from_is_a_one_line_error(tmp_path):
    (tmp_path / 'epoch_1.pth').write_bytes(b'')
    _fake_checkpoint(tmp_path / 'epoch_2.pth', 2)
    data = (tmp_path / 'epoch_2.pth').read_bytes()
    (tmp_path / 'epoch_2.pth').write_bytes(data[:-200])
    with pytest.raises(CheckpointLoadError) as info:
        latest_checkpoint(str(tmp_path), logging.getLogger('test'))
    message = str(info.value)
    assert '\n' not in message
    assert 'epoch_1.pth is empty' in message
    assert 'epoch_2.pth is truncated' in message


def test_resume_skips_a_truncated_latest_checkpoint_naming_it(
        train_demo, tmp_path):
    work = tmp_path / 'work'
    opts = ('default_hooks.checkpoint.interval=1',
            'default_hooks.checkpoint.max_keep_ckpts=-1',
            'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False')
    train_demo(work, 'train_cfg.max_epochs=2', *opts)
    data = (work / 'epoch_2.pth').read_bytes()
    (work / 'epoch_2.pth').write_bytes(data[:len(data) // 3])
    out = train_demo(work, 'train_cfg.max_epochs=2', *opts, resume=True)
    log = out.stdout + out.stderr
    assert 'resumed epoch: 1' in log
    assert any(str(work / 'epoch_2.pth') in line and 'truncated' in line
               for line in log.splitlines()), log[-3000:]
    assert _epoch_of(work / 'epoch_2.pth') == 2  # written again, complete


def test_non_finite_loss_stops_at_the_first_such_iteration(
        scalars, train_demo, tmp_path):
    """lr 1e30 makes the loss non-finite within a few iterations: the run
    fails naming that iteration, every logged iteration before it is
    finite, and no checkpoint is written after it."""
    work = tmp_path / 'work'
    proc = train_demo(work, 'train_cfg.max_epochs=4',
                      'optim_wrapper.optimizer.lr=1e30',
                      'param_scheduler=[]', 'default_hooks.logger.interval=1',
                      'default_hooks.checkpoint.interval=1',
                      'default_hooks.checkpoint.max_keep_ckpts=-1',
                      'train_dataloader.num_workers=0',
                      'train_dataloader.persistent_workers=False', check=False)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert 'non-finite loss' in last, proc.stderr[-3000:]
    bad_iter = int(last.split('iteration ')[1].split()[0].strip(',:'))
    records = [r for r in scalars(work) if 'loss' in r]
    assert [r['iter'] for r in records] == list(range(1, bad_iter))
    assert all(math.isfinite(r['loss']) for r in records)
    for ckpt in work.glob('epoch_*.pth'):
        meta = torch.load(ckpt, map_location='cpu', weights_only=False)
        assert meta['meta']['iter'] < bad_iter
        assert all(torch.isfinite(v).all()
                   for v in meta['state_dict'].values()
                   if v.is_floating_point())


def test_resume_with_another_batch_size_fails_naming_both(
        train_demo, tmp_path):
    """Schedules converted to iterations keep the old iteration counts on
    resume; a changed number of iterations per epoch is refused."""
    work = tmp_path / 'work'
    opts = ('default_hooks.checkpoint.interval=1',
            'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False')
    train_demo(work, 'train_cfg.max_epochs=1', *opts)
    meta = torch.load(work / 'epoch_1.pth', map_location='cpu',
                      weights_only=False)['meta']
    before = meta['iter']  # one epoch
    proc = train_demo(work, 'train_cfg.max_epochs=2', *opts,
                      'train_dataloader.batch_size=4', resume=True,
                      check=False)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert str(work / 'epoch_1.pth') in last, proc.stderr[-3000:]
    assert f'{before} iterations per epoch' in last
    assert 'batch size 8' in last and 'batch size 4' in last
    assert not (work / 'epoch_2.pth').exists()
