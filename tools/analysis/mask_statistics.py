"""How often part-guided masking hits body parts, and how keypoint noise
degrades it.

For every sample of a config's dataset, the crop and flip run once; then,
for each keypoint-noise setting, the masks are made from the corrupted
keypoints while "body" is judged from the clean ones (the union of the
clean skeleton's part boxes). Reported per setting:

- ``views with parts``: share of views where at least one part patch got
  top priority;
- ``part patches / view``: mean number of top-priority patches;
- ``parts on body``: share of top-priority patches inside the clean body
  (how well noisy keypoints still point at the body);
- ``masked on body``: share of masked patches inside the clean body.

    python tools/analysis/mask_statistics.py configs/hap/hap_demo.py \
        --repeats 20 --out docs/mask_statistics.md
"""
import argparse
import copy
from typing import Dict, List, Tuple

import numpy as np
from mmengine.config import Config, DictAction
from mmengine.utils import ProgressBar
from mmpretrain.registry import DATASETS, TRANSFORMS

import hap_mm  # noqa: F401  (registers hap_mm modules)
from hap_mm.datasets import find_mask_generator
from hap_mm.datasets.transforms import KeypointNoise
from hap_mm.utils import HelpFormatter, load_config

# (label, KeypointNoise kwargs)
NOISE_SETTINGS: List[Tuple[str, dict]] = [
    ('clean', dict()),
    ('pixel noise 4 px', dict(sigma=4.0)),
    ('pixel noise 8 px', dict(sigma=8.0)),
    ('pixel noise 16 px', dict(sigma=16.0)),
    ('30% joints dropped', dict(drop_prob=0.3)),
    ('60% joints dropped', dict(drop_prob=0.6)),
    ('left/right swapped', dict(swap_prob=1.0)),
    ('8 px + 30% dropped + 50% swapped',
     dict(sigma=8.0, drop_prob=0.3, swap_prob=0.5)),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument('config', help='A HAP pre-training config.')
    parser.add_argument(
        '--repeats',
        type=int,
        default=10,
        help='The number of passes over the dataset.')
    parser.add_argument(
        '--seed', type=int, default=0, help='The random seed.')
    parser.add_argument(
        '--out', help='Also write the table to this (Markdown) file.')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='Override config settings, key=value.')
    return parser.parse_args()


def crops(cfg: Config, repeats: int):
    """Clean keypoints after the geometric transforms, and the generator.

    Returns:
        tuple: keypoints (R, 17, 2), scores (R, 17) in input pixels, for
        R = repeats x dataset size, and the built ``PartAwareMaskGenerator``.
    """
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    mask_cfg = find_mask_generator(cfg.train_dataloader)
    generator = TRANSFORMS.build(mask_cfg)
    # the geometric transforms: everything before the masks or the packing
    steps = ds_cfg.pipeline
    end = next((i for i, t in enumerate(steps)
                if t['type'] in (mask_cfg['type'], 'PackInputs')), len(steps))
    ds_cfg.pipeline = steps[:end]
    dataset = DATASETS.build(ds_cfg)
    kpts, scores = [], []
    bar = ProgressBar(repeats * len(dataset))
    for _ in range(repeats):
        for i in range(len(dataset)):
            res = dataset[i]
            kpts.append(res['keypoints'][0])
            scores.append(res['keypoints_visible'][0])
            bar.update()
    print()
    return np.stack(kpts), np.stack(scores), generator


def statistics(generator, kpts: np.ndarray, scores: np.ndarray,
               noise: dict) -> Dict[str, float]:
    """The four shares for one noise setting (see the module docstring)."""
    body = generator.part_patches(kpts, scores).any(1)[:, None]  # (R,1,N)
    corrupt = KeypointNoise(**noise)
    noisy_k, noisy_s = [], []
    for k, s in zip(kpts, scores):
        res = corrupt(dict(keypoints=k[None], keypoints_visible=s[None]))
        noisy_k.append(res['keypoints'][0])
        noisy_s.append(res['keypoints_visible'][0])
    mask, prio = generator.generate(np.stack(noisy_k), np.stack(noisy_s))
    mask = mask.reshape(*mask.shape[:2], -1)
    prio = prio.reshape(*prio.shape[:2], -1)
    return {
        'views with parts': float(prio.any(-1).mean()),
        'part patches / view': float(prio.sum(-1).mean()),
        'parts on body': float((prio & body).sum() / max(prio.sum(), 1)),
        'masked on body': float((mask & body).sum() / mask.sum()),
    }


def table(rows: List[Tuple[str, Dict[str, float]]], header: str) -> str:
    keys = list(rows[0][1])
    lines = [header, '', '| keypoints | ' + ' | '.join(keys) + ' |',
             '|---' * (len(keys) + 1) + '|']
    for label, stats in rows:
        cells = [
            f'{v:.1f}' if k == 'part patches / view' else f'{100 * v:.1f}%'
            for k, v in stats.items()
        ]
        lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    np.random.seed(args.seed)
    kpts, scores, generator = crops(cfg, args.repeats)
    rows = [(label, statistics(generator, kpts, scores, noise))
            for label, noise in NOISE_SETTINGS]
    block_only = copy.copy(generator)
    block_only.part_guided = False
    rows.append(('(block-only masking, for reference)',
                 statistics(block_only, kpts, scores, {})))
    header = (f'Mask statistics for `{args.config}`: {len(kpts)} crops '
              f'({args.repeats} passes), {generator.num_views} views each, '
              f'{generator.num_mask} of {generator.num_patches} patches '
              'masked per view; "body" = the clean skeleton\'s part boxes.')
    text = table(rows, header)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write('# Part-guided masking under keypoint noise\n\n')
            f.write('Generated by `python tools/analysis/mask_statistics.py '
                    f'{args.config} --repeats {args.repeats} --seed '
                    f'{args.seed} --out {args.out}`.\n\n')
            f.write(text)
        print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
