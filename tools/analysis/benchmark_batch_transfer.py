"""Time moving one HAP batch to the model: batch mask vs per-sample masks.

Both routes start from the same packed samples (the demo crops through the
``hap_vitb_lup.py`` pipeline, cycled to ``--batch-size``) and end with the
images normalised and the masks stacked on ``--device``, timed in turn
(median of ``--repeats``), once for the move alone (what differs) and
once for the whole preprocessor (with normalising the images):

- per_sample: the earlier format: each data sample carries its ``mask`` and
  the metainfo ``part_mask``, ``keypoints`` and ``keypoints_visible``;
  mmpretrain's ``SelfSupDataPreprocessor`` moves every sample (copying its
  metadata) and the masks are stacked from the samples;
- batch: ``hap_collate``'s one ``mask`` tensor and ``HAPDataPreprocessor``
  (one non-blocking copy, data samples left where they are).

Masks are made once beforehand: only the transfer is timed.

    python tools/analysis/benchmark_batch_transfer.py --batch-size 512
"""
import argparse
import copy
import statistics
import time

import numpy as np
import torch
from mmengine.dataset import default_collate
from mmengine.logging import MMLogger
from mmpretrain.registry import DATASETS, MODELS

import hap_mm  # noqa: F401  (registers hap_mm modules)
from hap_mm.datasets import build_mask_generator, find_mask_generator
from hap_mm.datasets.hap_collate import hap_collate
from hap_mm.utils import HelpFormatter, load_config

CONFIG = 'configs/hap/hap_vitb_lup.py'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument(
        '--batch-size', type=int, default=512,
        help='Images in the batch (the demo crops, cycled).')
    parser.add_argument(
        '--repeats', type=int, default=20,
        help='Timed repeats; the median is reported.')
    parser.add_argument(
        '--device', default='cpu',
        help='The device the batch is moved to: cpu or cuda.')
    parser.add_argument(
        '--data-root', default='data/demo',
        help='The release-layout tree of the crops.')
    return parser.parse_args()


def packed_samples(args) -> list:
    cfg = load_config(CONFIG)
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg.update(data_root=args.data_root, ann_file='')
    ds_cfg.pop('sample_ratio', None)
    dataset = DATASETS.build(ds_cfg)
    base = [dataset[i] for i in range(len(dataset))]
    return [copy.deepcopy(base[i % len(base)])
            for i in range(args.batch_size)], cfg


def main() -> None:
    args = parse_args()
    MMLogger.get_instance('hap_transfer', log_level='WARNING')
    np.random.seed(0)
    samples, cfg = packed_samples(args)
    gen_cfg = find_mask_generator(cfg.train_dataloader)
    norm = {k: v for k, v in cfg.model.data_preprocessor.items()
            if k != 'type'}
    old_pre = MODELS.build(dict(type='SelfSupDataPreprocessor', **norm))
    new_pre = MODELS.build(dict(type='HAPDataPreprocessor', **norm))
    old_pre.to(args.device)
    new_pre.to(args.device)
    pin = args.device.startswith('cuda')

    # batch format: hap_collate as the data workers run it
    new_batch = hap_collate(copy.deepcopy(samples), mask_generator=gen_cfg)
    # per-sample format, the same masks
    old_batch = default_collate(copy.deepcopy(samples))
    gen = build_mask_generator(gen_cfg)
    _, parts = gen.generate(
        np.zeros((len(samples), 17, 2)), np.zeros((len(samples), 17)))
    for sample, mask, part in zip(old_batch['data_samples'],
                                  new_batch['mask'], parts):
        sample.set_mask(mask)
        sample.set_field(part, 'part_mask', field_type='metainfo')
    if pin:
        for batch in (new_batch, old_batch):
            batch['inputs'] = batch['inputs'].pin_memory()
        new_batch['mask'] = new_batch['mask'].pin_memory()

    def sync():
        if pin:
            torch.cuda.synchronize()

    def per_sample_move():
        data = old_pre.cast_data(
            dict(inputs=old_batch['inputs'],
                 data_samples=old_batch['data_samples']))
        torch.stack([s.mask for s in data['data_samples']]).to(args.device)
        sync()

    def batch_move():
        new_pre.cast_data(new_batch['inputs'])
        new_batch['mask'].to(args.device, non_blocking=True)
        sync()

    def per_sample():
        data = old_pre(old_batch, True)
        torch.stack([s.mask for s in data['data_samples']]).to(args.device)
        sync()

    def batch():
        new_pre(new_batch, True)
        sync()

    fns = dict(per_sample_move=per_sample_move, batch_move=batch_move,
               per_sample=per_sample, batch=batch)
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(args.repeats):
        for key, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    ms = {k: 1e3 * statistics.median(v) for k, v in times.items()}
    print(f'batch of {args.batch_size} on {args.device}, median of '
          f'{args.repeats} (ms):')
    for what, old, new in (('move to the device', 'per_sample_move',
                            'batch_move'),
                           ('whole preprocessor (normalisation too)',
                            'per_sample', 'batch')):
        print(f'  {what:40s} per-sample masks {ms[old]:8.2f}  batch mask '
              f'{ms[new]:8.2f}  ratio {ms[old] / ms[new]:6.2f}x')


if __name__ == '__main__':
    main()
