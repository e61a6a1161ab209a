"""Bad data, interrupted runs, distributed equality, determinism, errors."""
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from hap_mm.datasets import LUPersonKeypointDataset

CONFIG = 'configs/hap/hap_demo.py'


def _tree_hash(root: Path) -> dict:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob('*')) if p.is_file()
    }






def test_salted_tree_trains_logs_every_bad_file_and_is_not_modified(
        train_demo, demo_copy, salt_tree, tmp_path):
    bad = salt_tree(demo_copy)
    before = _tree_hash(demo_copy)
    proc = train_demo(tmp_path / 'work',
                  f'train_dataloader.dataset.data_root={demo_copy}',
                  'train_dataloader.dataset.ann_file=', 'train_cfg.max_epochs=2')
    log = proc.stdout + proc.stderr
    for kind, rel in bad.items():
        folder = 'images' if kind in ('truncated', 'empty') else 'keypoints'
        path = f'{folder}/{rel}' if folder == 'images' else \
            f'keypoints/{rel.with_suffix(".npy")}'
        assert path in log, (kind, path)
    totals = re.findall(
        r'epoch (\d+): (\d+) unreadable images skipped, (\d+) samples with '
        r'bad keypoint files', log)
    assert [int(t[0]) for t in totals] == [1, 2]
    for _, images, keypoints in totals:
        # every index is visited once per epoch (random replacements for
        # the two bad images may hit them again)
        assert int(images) >= 2 and int(keypoints) >= 5
    assert _tree_hash(demo_copy) == before


def test_strict_run_stops_at_the_first_bad_file_and_names_it(
        train_demo, demo_copy, salt_tree, tmp_path):
    bad = salt_tree(demo_copy)
    proc = train_demo(tmp_path / 'work',
                  f'train_dataloader.dataset.data_root={demo_copy}',
                  'train_dataloader.dataset.ann_file=',
                  'train_dataloader.dataset.strict=True',
                  'train_dataloader.num_workers=0',
                  'train_dataloader.persistent_workers=False',
                  check=False)
    assert proc.returncode != 0
    names = [str(rel.stem) for rel in bad.values()]
    assert 'BadSampleError' in proc.stderr
    assert any(name in proc.stderr for name in names)


def test_kill_9_after_a_checkpoint_then_resume_matches_uninterrupted(
        scalars, train_demo, repo_root, tmp_path):
    opts = ['default_hooks.checkpoint.interval=1',
            'default_hooks.checkpoint.max_keep_ckpts=-1']
    full = tmp_path / 'full'
    train_demo(full, 'train_cfg.max_epochs=8', *opts)
    killed = tmp_path / 'killed'
    proc = subprocess.Popen(
        [sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(killed),
         '--cfg-options', 'train_cfg.max_epochs=8', *opts],
        cwd=repo_root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    deadline = time.time() + 300
    while not (killed / 'epoch_2.pth').exists():
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / 'epoch_8.pth').exists()
    out = train_demo(killed, 'train_cfg.max_epochs=8', *opts, resume=True)
    assert 'resumed epoch:' in out.stdout + out.stderr
    a, b = scalars(full)[-1], scalars(killed)[-1]
    assert (a['epoch'], a['iter']) == (b['epoch'], b['iter']) == (8, a['iter'])
    assert a['lr'] == pytest.approx(b['lr'], rel=1e-9)


def test_a_save_killed_midway_does_not_break_resume(train_demo, tmp_path):
    work = tmp_path / 'work'
    train_demo(work, 'train_cfg.max_epochs=2',
           'default_hooks.checkpoint.interval=1')
    # what a kill during the next save leaves: a partial temp file and,
    # at worst, an empty last_checkpoint record
    (work / '.epoch_3.pth.tmp').write_bytes(
        (work / 'epoch_2.pth').read_bytes()[:1000])
    (work / 'last_checkpoint').write_text('')
    out = train_demo(work, 'train_cfg.max_epochs=3',
                 'default_hooks.checkpoint.interval=1', resume=True)
    assert 'resumed epoch: 2' in out.stdout + out.stderr
    assert (work / 'epoch_3.pth').exists()
    torch.load(work / 'epoch_3.pth', map_location='cpu', weights_only=False)


def test_same_seed_same_first_losses_different_seed_different(
        scalars, train_demo, tmp_path):
    opts = ('train_cfg.max_epochs=2', 'default_hooks.logger.interval=1')

    def first_losses(name, seed):
        train_demo(tmp_path / name, *opts, f'randomness.seed={seed}')
        return [(r['loss_rec'], r['loss_align'])
                for r in scalars(tmp_path / name)[:5]]

    a, b, c = first_losses('a', 0), first_losses('b', 0), first_losses('c', 1)
    assert len(a) == 5 and a == b
    assert a != c


def test_same_seed_same_masks_different_seed_different(demo_root):
    pipeline = [
        dict(type='KeypointRandomResizedCrop', scale=(256, 128)),
        dict(type='KeypointRandomFlip'),
        dict(type='PartAwareMaskGenerator'),
    ]
    ds = LUPersonKeypointDataset(str(demo_root), pipeline=pipeline)

    def masks(seed):
        np.random.seed(seed)
        return np.stack([ds[i]['mask'] for i in range(5)])

    assert (masks(3) == masks(3)).all()
    assert (masks(3) != masks(4)).any()


def test_two_process_hap_step_equals_one_process(repo_root, tmp_path):
    script = repo_root / 'tests' / 'helpers' / 'hap_ranks.py'
    proc = subprocess.run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        '--master_port=29644', str(script), str(tmp_path)
    ],
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ref_losses, ref_grads = torch.load(tmp_path / 'single.pt')
    assert set(ref_losses) == {'loss_rec', 'loss_align', 'align_infonce'}
    for rank in range(2):
        losses, grads = torch.load(tmp_path / f'rank{rank}.pt')
        for key in ref_losses:
            assert abs(losses[key].item() - ref_losses[key].item()) < 1e-5
        assert set(grads) == set(ref_grads)
        for name, grad in grads.items():
            assert torch.allclose(grad, ref_grads[name], atol=1e-5), name


@pytest.mark.parametrize('option, setting', [
    ('train_dataloader.collate_fn.mask_generator.mask_ratio=1.0', 'mask_ratio'),
    ('train_dataloader.collate_fn.mask_generator.input_size=(250,128)', 'input_size'),
    ('model.backbone.img_size=(250,128)', 'img_size'),
])
def test_config_that_cannot_work_fails_early_naming_the_setting(
        tool, tmp_path, option, setting):
    proc = tool([
        'tools/train.py', CONFIG, '--work-dir', tmp_path, '--cfg-options',
        option
    ])
    assert proc.returncode != 0
    assert setting in proc.stderr.splitlines()[-1], proc.stderr[-1500:]
