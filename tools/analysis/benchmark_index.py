"""Time and memory of ``LUPersonKeypointDataset``'s index for a CFS list of
LUPerson's size, against the list-of-dicts index it replaced.

Writes a synthetic ``CFS_list.pkl`` of ``--num`` paths shaped like
LUPerson's (``<video>/<video>_<frame>_<person>.jpg`` under a per-source
folder, 46 characters on average) into an empty tree (the dataset never opens an
image at ``__init__``), then builds each variant in a fresh process and
measures:

- ``init_s``: wall time of the dataset's ``__init__`` (unpickling the list,
  selecting, building the index);
- ``index_mb``: resident memory the process keeps after ``__init__`` (RSS
  after minus before, after a garbage collection), i.e. what every data
  worker shares; ``peak_mb``: the peak RSS growth during ``__init__``;
- ``get_data_info_us``: mean time of one ``get_data_info`` (random order).

Variants: ``compact`` (the dataset, every entry), ``compact_half`` (the
dataset with ``sample_ratio=0.5``, as the HAP configs), ``baseline`` (the
index before: one dict per image holding the absolute image path and the
keypoint path, serialized by mmengine's ``BaseDataset``; ``--baseline``).
Ratios are against the baseline measured in the same run.

    python tools/analysis/benchmark_index.py --baseline --json work_dirs/index.json
"""
import argparse
import gc
import json
import os
import os.path as osp
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from typing import List

import numpy as np

from hap_mm.utils import HelpFormatter

VARIANTS = ('compact', 'compact_half', 'baseline')


def synthetic_paths(num: int, seed: int = 0) -> List[str]:
    """``num`` distinct LUPerson-like relative paths, in random order."""
    rng = np.random.default_rng(seed)
    sources = ('youtube', 'bilibili', 'vimeo', 'dailymotion')
    paths = []
    per_video = 400
    for v in range((num + per_video - 1) // per_video):
        video = f'{sources[v % 4]}_{v:07d}'
        frames = rng.integers(0, 99999, per_video)
        for i, frame in enumerate(frames):
            paths.append(
                f'{video}/{video}_{frame:05d}_{i:03d}.jpg')
            if len(paths) == num:
                break
    order = rng.permutation(num)  # the CFS list is sorted by score
    return [paths[i] for i in order]


def rss_mb() -> float:
    with open('/proc/self/statm') as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE') / 2**20


def measure(variant: str, root: str, probes: int) -> dict:
    """Build one variant in this process and measure it."""
    from mmengine.dataset import BaseDataset

    import hap_mm  # noqa: F401
    from hap_mm.datasets import LUPersonKeypointDataset
    from hap_mm.datasets.keypoint_io import load_path_list

    class ListOfDicts(BaseDataset):
        """The previous index: a dict per image, serialized by mmengine."""

        def load_data_list(self):
            img_dir = self.data_prefix['img_path']
            kpt_dir = self.data_prefix['kpt_path']
            with open(self.ann_file, 'rb') as f:
                rels = [p.removeprefix('./')
                        for p in load_path_list(f.read())]
            return [
                dict(img_path=osp.join(img_dir, r),
                     kpt_path=osp.join(kpt_dir,
                                       osp.splitext(r)[0] + '.npy'))
                for r in rels
            ]

    gc.collect()
    before = rss_mb()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    if variant == 'baseline':
        ds = ListOfDicts(
            ann_file='CFS_list.pkl', data_root=root,
            data_prefix=dict(img_path='images', kpt_path='keypoints'))
    else:
        ds = LUPersonKeypointDataset(
            root, ann_file='CFS_list.pkl',
            sample_ratio=0.5 if variant == 'compact_half' else 1.0)
    init_s = time.perf_counter() - t0
    gc.collect()
    after = rss_mb()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    idx = np.random.default_rng(0).integers(0, len(ds), probes)
    t0 = time.perf_counter()
    for i in idx:
        ds.get_data_info(int(i))
    per_info = (time.perf_counter() - t0) / probes
    return dict(
        variant=variant,
        entries=len(ds),
        init_s=round(init_s, 2),
        index_mb=round(after - before, 1),
        peak_mb=round(max(peak, peak_before) - before, 1),
        get_data_info_us=round(per_info * 1e6, 2),
        example=ds.get_data_info(0)['img_path'])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument('--num', type=int, default=4180243,
                        help='Paths in the synthetic CFS list.')
    parser.add_argument('--baseline', action='store_true',
                        help='Also measure the list-of-dicts index.')
    parser.add_argument('--probes', type=int, default=100000,
                        help='The number of get_data_info calls timed.')
    parser.add_argument('--json', help='Write the results here.')
    parser.add_argument('--worker', choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument('--root', help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker, args.root, args.probes)))
        return
    variants = list(VARIANTS if args.baseline else VARIANTS[:2])
    results = {}
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(osp.join(root, 'images'))
        paths = synthetic_paths(args.num)
        mean_len = sum(map(len, paths)) / len(paths)
        with open(osp.join(root, 'CFS_list.pkl'), 'wb') as f:
            pickle.dump(paths, f, protocol=4)
        del paths
        for variant in variants:
            proc = subprocess.run(
                [sys.executable, __file__, '--worker', variant, '--root',
                 root, '--probes', str(args.probes)],
                capture_output=True, text=True)
            if proc.returncode:
                raise SystemExit(f'{variant} failed:\n{proc.stderr[-3000:]}')
            results[variant] = json.loads(proc.stdout.splitlines()[-1])
    out = dict(num=args.num, mean_path_chars=round(mean_len, 1),
               **{f'{v}_{k}': r[k] for v, r in results.items()
                  for k in ('entries', 'init_s', 'index_mb', 'peak_mb',
                            'get_data_info_us')})
    if 'baseline' in results:
        b, c = results['baseline'], results['compact']
        out['init_ratio_vs_baseline'] = round(c['init_s'] / b['init_s'], 3)
        out['index_mem_ratio_vs_baseline'] = round(
            c['index_mb'] / b['index_mb'], 3)
    print(f"{args.num} synthetic paths, {out['mean_path_chars']} characters "
          'on average')
    print(f"{'variant':<14}{'entries':>10}{'init s':>9}{'index MB':>10}"
          f"{'peak MB':>9}{'get_data_info us':>18}")
    for v, r in results.items():
        print(f"{v:<14}{r['entries']:>10}{r['init_s']:>9.2f}"
              f"{r['index_mb']:>10.1f}{r['peak_mb']:>9.1f}"
              f"{r['get_data_info_us']:>18.2f}")
    if 'baseline' in results:
        print(f"compact / baseline: init {out['init_ratio_vs_baseline']}, "
              f"index memory {out['index_mem_ratio_vs_baseline']}")
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(out, f, indent=1)
    print('RESULT ' + json.dumps(out), flush=True)


if __name__ == '__main__':
    main()
