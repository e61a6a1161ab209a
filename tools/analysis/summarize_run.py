"""Summarise a training run: losses at the start and end, checkpoint, logs.

    python tools/analysis/summarize_run.py work_dirs/hap_demo
"""
import argparse
import glob
import json
import os.path as osp
from typing import Dict, List


def read_scalars(work_dir: str) -> List[dict]:
    """Training records of the newest run's ``vis_data/scalars.json``."""
    runs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                     'scalars.json')))
    if not runs:
        raise FileNotFoundError(f'no */vis_data/scalars.json in {work_dir}')
    with open(runs[-1]) as f:
        return [json.loads(line) for line in f if line.strip()]


def loss_trend(records: List[dict], keys=('loss_rec', 'loss_align'),
               window: int = 3) -> Dict[str, tuple]:
    """Mean of the first and last ``window`` logged values of each loss."""
    trend = {}
    for key in keys:
        values = [r[key] for r in records if key in r]
        if values:
            n = min(window, len(values))
            trend[key] = (sum(values[:n]) / n, sum(values[-n:]) / n,
                          len(values))
    return trend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dir')
    work_dir = parser.parse_args().work_dir
    records = read_scalars(work_dir)
    for key, (first, last, n) in loss_trend(records).items():
        print(f'{key}: {first:.4f} (first logs) -> {last:.4f} (last logs), '
              f'{n} values logged')
    last_ckpt = osp.join(work_dir, 'last_checkpoint')
    if osp.exists(last_ckpt):
        print(f'checkpoint: {open(last_ckpt).read().strip()}')
    print(f'logs: {osp.abspath(work_dir)}/<timestamp>/ '
          '(text log and vis_data/scalars.json)')
    for kind in ('masks', 'reconstruction'):
        pics = sorted(glob.glob(osp.join(work_dir, 'vis', kind, '*.png')))
        if pics:
            print(f'{kind} pictures: {osp.abspath(osp.dirname(pics[0]))} '
                  f'({len(pics)} files)')


if __name__ == '__main__':
    main()
