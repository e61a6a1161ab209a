"""Evaluate a checkpoint with a config's test loop (ReID, attributes, pose,
parsing, detection), in one process or under a launcher.

    python tools/test.py CONFIG CHECKPOINT [--out metrics.json]
    python tools/test.py CONFIG CHECKPOINT --dump-predictions preds.pkl
    tools/dist_test.sh CONFIG CHECKPOINT GPUS
"""
import argparse
import json
import os
import os.path as osp

import numpy as np
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from hap_mm.engine.runner.hap_runner import init_cpu_process_group
from hap_mm.utils import HelpFormatter


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument('config', help='The config file to test.')
    parser.add_argument('checkpoint', help='The checkpoint file to evaluate.')
    parser.add_argument(
        '--work-dir',
        help="The folder for the test log; without it the config's "
        'work_dir, else work_dirs/<config file name without .py>.')
    parser.add_argument(
        '--out',
        help='Write the metrics to this JSON file ({"metric name": value}).')
    parser.add_argument(
        '--dump-predictions',
        metavar='FILE.pkl',
        help="Write every test sample's prediction to this pickle file "
        "(mmengine's DumpResults).")
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='Override config settings, key=value.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='The job launcher; none runs one process.')
    parser.add_argument(
        '--local_rank',
        '--local-rank',
        type=int,
        default=0,
        help='Set by older launchers; torchrun sets LOCAL_RANK instead.')
    args = parser.parse_args()
    if args.out is not None and not args.out.endswith('.json'):
        parser.error(f'--out writes JSON: give a .json file, not {args.out} '
                     '(per-sample predictions: --dump-predictions FILE.pkl)')
    if args.dump_predictions is not None and not args.dump_predictions.endswith(
            '.pkl'):
        parser.error('--dump-predictions writes a pickle: give a .pkl file, '
                     f'not {args.dump_predictions}')
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def to_json(value):
    """Metric values (floats, NumPy scalars and arrays, tensors) as JSON."""
    if hasattr(value, 'tolist'):
        return value.tolist()
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, (np.generic, )):
        return value.item()
    return value


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    cfg.load_from = args.checkpoint
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.dump_predictions:
        cfg.test_evaluator = [cfg.test_evaluator] if isinstance(
            cfg.test_evaluator, dict) else list(cfg.test_evaluator)
        cfg.test_evaluator.append(
            dict(type='DumpResults', out_file_path=args.dump_predictions))
    init_cpu_process_group(cfg)
    runner = (Runner.from_cfg(cfg)
              if 'runner_type' not in cfg else RUNNERS.build(cfg))
    metrics = runner.test()
    if runner.rank == 0:
        print(metrics)
        if args.out:
            os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
            with open(args.out, 'w') as f:
                json.dump(to_json(dict(metrics)), f, indent=2)
            print(f'metrics: {osp.abspath(args.out)}')
        if args.dump_predictions:
            print(f'predictions: {osp.abspath(args.dump_predictions)}')


if __name__ == '__main__':
    main()
