"""Draw what part-guided masking does to dataset samples.

For each sample: the augmented crop with its keypoints and skeleton, the
top-priority part patches (red), and each view's mask (masked patches grey,
the part patches among them red).

    python tools/visualization/show_masks.py configs/hap/hap_demo.py --num 4
"""
import argparse
import os
import os.path as osp

import mmcv
import numpy as np
from mmengine.config import Config, DictAction
from mmengine.utils import ProgressBar
from mmpretrain.registry import DATASETS

import hap_mm  # noqa: F401  (registers hap_mm modules)
from hap_mm.datasets import find_mask_generator
from hap_mm.utils import HelpFormatter, load_config
from hap_mm.visualization import HAPVisualizer


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument('config', help='A HAP pre-training config.')
    parser.add_argument(
        '--num', type=int, default=4, help='The number of samples to draw.')
    parser.add_argument(
        '--out', default='work_dirs/vis/masks', help='The folder for the pictures.')
    parser.add_argument(
        '--seed', type=int, default=0, help='The random seed.')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='Override config settings, key=value.')
    return parser.parse_args()


def build_unpacked_dataset(cfg: Config):
    """The training dataset with its pipeline minus the final packing, and
    the config's mask generator as the last step (the configs make masks per
    batch in ``hap_collate``; per sample the algorithm is the same)."""
    ds_cfg = cfg.train_dataloader.dataset.copy()
    mask_cfg = find_mask_generator(cfg.train_dataloader)
    pipeline = [
        t for t in ds_cfg.pipeline
        if t['type'] not in ('PackInputs', mask_cfg['type'])
    ]
    ds_cfg.pipeline = pipeline + [mask_cfg]
    return DATASETS.build(ds_cfg), mask_cfg


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    dataset, mask_cfg = build_unpacked_dataset(cfg)
    patch = mask_cfg.get('patch_size', 16)
    score_thr = mask_cfg.get('score_thr', 0.3)
    np.random.seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    vis = HAPVisualizer(name='hap_show_masks')
    written = []
    num = min(args.num, len(dataset))
    bar = ProgressBar(num)
    for i in range(num):
        res = dataset[i]
        img = np.ascontiguousarray(res['img'][..., ::-1])  # BGR -> RGB
        kpts = res.get('keypoints')
        row = vis.draw_masked_sample(
            img,
            None if kpts is None else kpts[0],
            None if kpts is None else res['keypoints_visible'][0],
            res['part_mask'],
            res['mask'],
            patch,
            score_thr=score_thr)
        stem = osp.splitext(osp.basename(res['img_path']))[0]
        path = osp.join(args.out, f'{i:03d}_{stem}_masks.png')
        mmcv.imwrite(row[..., ::-1], path)
        written.append(path)
        bar.update()
    print(f'\nwrote {len(written)} pictures to {osp.abspath(args.out)}')
    for path in written:
        print(f'  {path}')


if __name__ == '__main__':
    main()
