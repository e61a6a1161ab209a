"""Summarise a training run: losses at the start and end, checkpoint, logs.

A run continued with ``--resume`` is read whole, every log in order.

    python tools/analysis/summarize_run.py work_dirs/hap_demo
"""
import argparse
import glob
import json
import os.path as osp
from typing import Dict, List


def read_scalars(work_dir: str) -> List[dict]:
    """Training records of every run in ``work_dir``, oldest first.

    Each run (``<timestamp>/vis_data/scalars.json``) of a training that was
    interrupted and continued with ``--resume`` logs its own part. The runs
    are read in timestamp order; where a later run starts at or before a
    step an earlier one had logged (a resume from an older checkpoint, or a
    new training in the same folder), the later run's records replace the
    earlier ones from that step on. Only training records (with ``loss``)
    are kept.
    """
    runs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                     'scalars.json')))
    if not runs:
        raise FileNotFoundError(f'no */vis_data/scalars.json in {work_dir}')
    records: List[dict] = []
    for run in runs:
        with open(run) as f:
            new = [json.loads(line) for line in f if line.strip()]
        new = [r for r in new if 'loss' in r]
        if new:
            first = new[0].get('step', 0)
            records = [r for r in records if r.get('step', 0) < first] + new
    return records


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
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        'work_dir',
        help='The work directory of a training run (all its runs are read, '
        'so a run continued with --resume is summarised whole).')
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
