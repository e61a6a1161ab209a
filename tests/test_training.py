"""End-to-end runs of the demo config through the real launchers (CPU)."""
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

CONFIG = 'configs/hap/hap_demo.py'






def test_demo_training_losses_fall_and_checkpoint_is_saved(
        scalars, train_demo, tmp_path):
    work = tmp_path / 'demo'
    proc = train_demo(work)
    records = [r for r in scalars(work) if 'loss_rec' in r]
    assert len(records) >= 10
    first = sum(r['loss_rec'] for r in records[:3]) / 3
    last = sum(r['loss_rec'] for r in records[-3:]) / 3
    assert last < 0.9 * first, (first, last)
    assert all('loss_align' in r for r in records)
    ckpt = (work / 'last_checkpoint').read_text().strip()
    assert Path(ckpt).exists()
    assert 'last checkpoint' in proc.stdout
    # mmengine's per-parameter optimizer lines are logged at DEBUG
    assert 'paramwise_options' not in proc.stdout + proc.stderr
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    assert any(k.startswith('backbone.layers.') for k in state['state_dict'])


def test_resume_continues_iteration_and_lr_of_an_uninterrupted_run(
        scalars, train_demo, tool, tmp_path):
    full, part = tmp_path / 'full', tmp_path / 'part'
    opts = ('train_cfg.max_epochs=4', 'default_hooks.checkpoint.interval=1')
    train_demo(full, *opts)
    train_demo(part, 'train_cfg.max_epochs=2',
           'default_hooks.checkpoint.interval=1')
    proc = train_demo(part, *opts, resume=True)
    assert 'resumed epoch: 2' in proc.stdout + proc.stderr
    a, b = scalars(full)[-1], scalars(part)[-1]
    assert a['iter'] == b['iter'] and a['epoch'] == b['epoch'] == 4
    assert a['lr'] == pytest.approx(b['lr'], rel=1e-9)
    # summarize_run reads both runs of the resumed work dir, in order: as
    # many values as the uninterrupted run, first from the first run
    summary = {}
    for work in (full, part):
        proc = tool(['tools/analysis/summarize_run.py', work])
        assert proc.returncode == 0, proc.stderr
        summary[work] = re.search(
            r'loss_rec: ([\d.]+) \(first logs\) -> [\d.]+ \(last logs\), '
            r'(\d+) values logged', proc.stdout).groups()
    assert summary[part][1] == summary[full][1]
    first_run = sorted(part.glob('*/vis_data/scalars.json'))[0]
    first = [json.loads(line) for line in first_run.read_text().splitlines()]
    first = [r['loss_rec'] for r in first if 'loss_rec' in r][:3]
    assert float(summary[part][0]) == pytest.approx(sum(first) / 3, abs=1e-4)


def test_dist_train_sh_runs_two_cpu_processes(repo_root, demo_root, tmp_path):
    """Two gloo processes split each epoch: half the iterations of one."""
    env = dict(
        os.environ, PYTHON=sys.executable, PORT='29633', PYTHONUNBUFFERED='1')
    proc = subprocess.run([
        'bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir',
        str(tmp_path), '--cfg-options', 'train_cfg.max_epochs=2'
    ],
                          cwd=repo_root,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert 'Distributed training: True' in out
    num_images = len(list((demo_root / 'images').rglob('*.jpg')))
    per_epoch = {int(m) for m in re.findall(r'Epoch\(train\) \[1\]\[\d+/(\d+)\]',
                                           out)}
    assert per_epoch == {math.ceil(num_images / (8 * 2))}, per_epoch
    assert (tmp_path / 'epoch_2.pth').exists()
