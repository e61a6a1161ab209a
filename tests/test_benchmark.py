"""tools/analysis/benchmark.py keeps running (no timing assertions)."""
import importlib.util
import json
import math

import numpy as np

from hap_mm.datasets.transforms import PartAwareMaskGenerator

KEYS = ('step_time_ratio_vs_mae', 'peak_mem_ratio_vs_mae',
        'step_time_ratio_vs_mae_sequential_views',
        'step_time_ratio_vs_mae_batched_views',
        'batched_vs_sequential_views', 'pipeline_ratio_vs_mae',
        'mask_speedup_vs_loop', 'flops_hap_step', 'flops_mae_step',
        'flops_ratio_vs_mae')


def test_quick_benchmark_writes_every_key(tool, tmp_path):
    out = tmp_path / 'bench.json'
    proc = tool([
        'tools/analysis/benchmark.py', '--quick', '--arch', 'tiny',
        '--batch-size', '2', '--repeats', '1', '--pipeline-repeats', '2',
        '--num-images', '3', '--json', out
    ])
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    for key in KEYS:
        assert math.isfinite(res[key]) and res[key] > 0, key
    assert res['flops_hap_step'] > res['flops_mae_step']
    spread = res['pipeline_ratio_vs_mae_rounds']
    assert spread['min'] <= spread['median'] <= spread['max']
    assert res['settings']['pipeline_repeats'] == 2
    assert set(res['step_minor_faults']) == {'batched', 'mae', 'sequential'}
    # the headline ratio times the path HAP takes by default on this device
    # (CPU: views one after the other)
    assert res['default_views'] == 'sequential'
    assert res['step_time_ratio_vs_mae'] == (
        res['step_time_ratio_vs_mae_sequential_views'])
    assert res['machine']['torch'] and res['settings']['arch'] == 'tiny'


def test_loop_baseline_is_the_same_algorithm(repo_root):
    """The benchmark's per-sample loop gives exact counts and the same part
    statistics as the generator it is compared with."""
    spec = importlib.util.spec_from_file_location(
        'benchmark', repo_root / 'tools/analysis/benchmark.py')
    bm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bm)
    gen = PartAwareMaskGenerator()
    kpts = bm.demo_keypoints(600)
    np.random.seed(0)
    loop = np.stack([
        bm.loop_masks(gen, k[:, :2], k[:, 2]) for k in kpts
    ]).reshape(600, 2, -1)
    vec = gen.generate(kpts[..., :2], kpts[..., 2])[0].reshape(600, 2, -1)
    assert (loop.sum(-1) == gen.num_mask).all()
    body = gen.part_patches(kpts[..., :2], kpts[..., 2]).any(1)[:, None]
    share = [(m & body).sum() / m.sum() for m in (loop, vec)]
    assert abs(share[0] - share[1]) < 0.02
