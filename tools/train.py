"""Train a hap_mm config, or a host's (mmpretrain, mmpose, mmseg, mmdet) config
that uses hap_mm, in one process or under a launcher.

    python tools/train.py configs/hap/hap_demo.py
    tools/dist_train.sh configs/hap/hap_vitb_lup.py 8      # torchrun

Dataloaders without a ``collate_fn`` get mmpretrain's default
(``default_collate``) only in configs whose default scope is mmpretrain, as
mmpretrain's own ``tools/train.py`` does; mmpose, mmseg and mmdet configs
keep their hosts' default (mmengine's ``pseudo_collate``).
"""
import argparse
import logging
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from hap_mm.engine.runner.hap_runner import init_cpu_process_group, latest_checkpoint
from hap_mm.utils import HelpFormatter

# AmpOptimWrapper arguments that OptimWrapper does not take
AMP_ONLY_KEYS = ('loss_scale', 'dtype', 'use_fsdp')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=HelpFormatter)
    parser.add_argument('config', help='The config file to train.')
    parser.add_argument(
        '--work-dir',
        help="The folder for logs and checkpoints; without it the config's "
        'work_dir, else work_dirs/<config file name without .py>.')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='Resume from this checkpoint, or (the option without a value) '
        'from the latest checkpoint in the work directory.')
    amp = parser.add_mutually_exclusive_group()
    amp.add_argument(
        '--amp',
        action='store_true',
        help='Train with automatic mixed precision (AmpOptimWrapper, '
        'dynamic loss scale).')
    amp.add_argument(
        '--no-amp',
        action='store_true',
        help='Train in full precision even if the config asks for AMP: '
        'the optimizer wrapper becomes OptimWrapper and its AMP-only '
        'settings (loss_scale, dtype) are dropped. Use it on CPU or on a '
        'GPU without AMP.')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='Scale the lr by the actual total batch size over the '
        "config's auto_scale_lr.base_batch_size.")
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='Skip validation during training.')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='Set pin_memory=False on every dataloader.')
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='Set persistent_workers=False on every dataloader.')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='Override config settings, key=value (e.g. '
        'train_dataloader.batch_size=64); applied after the other options.')
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
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply the command-line options to the config."""
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    elif args.no_amp and cfg.optim_wrapper.get('type') == 'AmpOptimWrapper':
        cfg.optim_wrapper.type = 'OptimWrapper'
        for key in AMP_ONLY_KEYS:
            cfg.optim_wrapper.pop(key, None)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    mmpretrain_scope = cfg.get('default_scope', 'mmpretrain') == 'mmpretrain'
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(field)
        if loader is None:
            continue
        if mmpretrain_scope:
            loader.setdefault('collate_fn', dict(type='default_collate'))
        if args.no_pin_memory:
            loader.pin_memory = False
        if args.no_persistent_workers:
            loader.persistent_workers = False
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


class ParamwiseLinesToDebug(logging.Filter):
    """mmengine's ``DefaultOptimWrapperConstructor`` logs one INFO line per
    parameter a ``paramwise_cfg`` setting touches (``paramwise_options --
    ...``): about 170 for the demo ViT, hundreds for ViT-B. This logs them at
    DEBUG instead (``log_level='DEBUG'`` shows them); every other record,
    the hosts' warnings included, passes unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and str(
                record.msg).startswith('paramwise_options'):
            record.levelno, record.levelname = logging.DEBUG, 'DEBUG'
        return True


def main() -> None:
    args = parse_args()
    cfg = merge_args(Config.fromfile(args.config), args)
    init_cpu_process_group(cfg)
    runner = (Runner.from_cfg(cfg)
              if 'runner_type' not in cfg else RUNNERS.build(cfg))
    runner.logger.addFilter(ParamwiseLinesToDebug())
    runner.train()
    if runner.rank == 0:
        ckpt = latest_checkpoint(runner.work_dir) or 'none'
        print(f'\nwork dir: {osp.abspath(runner.work_dir)}\n'
              f'log: {osp.abspath(runner.log_dir)}\n'
              f'last checkpoint: {ckpt}')


if __name__ == '__main__':
    main()
