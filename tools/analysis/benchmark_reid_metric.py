"""Peak memory and time of the ReID metric at MSMT17 size, chunked vs full.

Compares, on the same synthetic features (default 11,659 queries x 82,161
gallery images, 768-d, MSMT17's test split):

- chunked: ``reid_metrics_from_features`` (what ``ReIDMetric`` runs), one
  chunk of queries at a time (``--chunk-size``, default automatic);
- full (baseline): the whole (Q, G) float32 distance matrix of the same
  L2-normalised features, then ``reid_metrics`` on it (what ``ReIDMetric``
  did before).

Each variant runs in a fresh process (``MALLOC_MMAP_THRESHOLD_`` fixed, so
large buffers are mmapped and counted exactly). Its peak memory is the growth
of the peak RSS (``ru_maxrss``) from the moment the features exist (made in
place, no temporaries) to the end of the metric: the memory the metric needs
above the features. Both variants must give the same metrics.

    nice python tools/analysis/benchmark_reid_metric.py
    nice python tools/analysis/benchmark_reid_metric.py --num-query 2000 \\
        --num-gallery 10000 --skip-full
"""
import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from hap_mm.utils import HelpFormatter


def _features(args):
    """Query/gallery features, pids and cameras, made in place."""
    gen = torch.Generator().manual_seed(args.seed)
    query = torch.empty(args.num_query, args.dim).normal_(generator=gen)
    gallery = torch.empty(args.num_gallery, args.dim).normal_(generator=gen)
    rng = np.random.default_rng(args.seed)
    ids = rng.integers(0, args.num_ids, args.num_gallery)
    q_pids = rng.integers(0, args.num_ids, args.num_query)
    # make each query's identity show up in the gallery, closer than noise
    gallery[:args.num_query] += 2 * query
    ids[:args.num_query] = q_pids
    q_cams = rng.integers(0, args.num_cams, args.num_query)
    g_cams = rng.integers(0, args.num_cams, args.num_gallery)
    return query, gallery, q_pids, ids, q_cams, g_cams


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_variant(args) -> dict:
    """One variant in this process; returns its peak growth and time."""
    from hap_mm.evaluation.functional import reid_metrics, reid_metrics_from_features
    torch.set_num_threads(args.threads)
    data = _features(args)
    before = _peak_mb()
    start, cpu_start = time.perf_counter(), time.process_time()
    if args.variant == 'chunked':
        out = reid_metrics_from_features(*data, chunk_size=args.chunk_size)
    else:
        query, gallery, *labels = data
        q = torch.nn.functional.normalize(query, dim=1)
        g = torch.nn.functional.normalize(gallery, dim=1)
        distmat = (q @ g.T).mul_(-2).add_(2).numpy()
        del q, g
        out = reid_metrics(distmat, *labels)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    return dict(
        variant=args.variant,
        peak_above_features_mb=_peak_mb() - before,
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        features_mb=(args.num_query + args.num_gallery) * args.dim * 4 / 2**20,
        **{k: out[k] for k in ('mAP', 'rank1', 'rank5', 'rank10',
                               'num_valid_queries')})


def _child(args, variant: str) -> dict:
    cmd = [sys.executable, __file__, '--variant', variant]
    for key in ('num_query', 'num_gallery', 'dim', 'num_ids', 'num_cams',
                'seed', 'threads'):
        cmd += [f'--{key.replace("_", "-")}', str(getattr(args, key))]
    if args.chunk_size is not None:
        cmd += ['--chunk-size', str(args.chunk_size)]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536')
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f'{variant} failed:\n{proc.stderr[-3000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument('--num-query', type=int, default=11659,
                        help='The number of synthetic query features.')
    parser.add_argument('--num-gallery', type=int, default=82161,
                        help='The number of synthetic gallery features.')
    parser.add_argument('--dim', type=int, default=768,
                        help='The feature dimension.')
    parser.add_argument('--num-ids', type=int, default=3060,
                        help='The number of synthetic identities.')
    parser.add_argument('--num-cams', type=int, default=15,
                        help='The number of synthetic cameras.')
    parser.add_argument('--chunk-size', type=int, default=None,
                        help='Queries per chunk of the chunked variant '
                        '(default: automatic).')
    parser.add_argument('--threads', type=int, default=1,
                        help='Torch threads in each variant.')
    parser.add_argument('--seed', type=int, default=0,
                        help='The seed of the synthetic features and '
                        'labels.')
    parser.add_argument('--skip-full', action='store_true',
                        help='Run only the chunked variant (the full matrix '
                        'needs Q x G x 4 bytes, 3.8 GB at MSMT17 size).')
    parser.add_argument('--variant', choices=('chunked', 'full'),
                        help=argparse.SUPPRESS)
    parser.add_argument('--json', help='Also write the results here.')
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args)))
        return
    results = [_child(args, 'chunked')]
    if not args.skip_full:
        results.append(_child(args, 'full'))
    print(f'{args.num_query} queries x {args.num_gallery} gallery, '
          f'{args.dim}-d float32 ({results[0]["features_mb"]:.0f} MB of '
          f'features); torch {torch.__version__}, {platform.machine()}, '
          f'{args.threads} thread(s)')
    print('| variant | peak memory above the features (MB) | wall time (s) '
          '| CPU time (s) | mAP | rank-1 |')
    print('|---|---|---|---|---|---|')
    for r in results:
        print(f'| {r["variant"]} | {r["peak_above_features_mb"]:.0f} | '
              f'{r["seconds"]:.1f} | {r["cpu_seconds"]:.1f} | '
              f'{r["mAP"]:.4f} | {r["rank1"]:.4f} |')
    if len(results) == 2:
        chunked, full = results
        same = all(chunked[k] == full[k]
                   for k in ('mAP', 'rank1', 'rank5', 'rank10'))
        mem_ratio = chunked['peak_above_features_mb'] / \
            full['peak_above_features_mb']
        print(f'peak memory ratio chunked / full: {mem_ratio:.3f}; '
              f'CPU time ratio: '
              f'{chunked["cpu_seconds"] / full["cpu_seconds"]:.3f}; '
              f'same metrics: {same}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
