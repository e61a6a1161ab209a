"""Split a COCO+AIC+MPII (ViT-MoE) pose checkpoint into one plain-ViT pose
checkpoint per dataset, which the single-dataset configs test.

    python tools/model_converters/split_moe.py CKPT OUT_DIR \
        [--datasets coco aic mpii] [--num-keypoints 17 14 16] [--force]

writes OUT_DIR/coco.pth, OUT_DIR/aic.pth and OUT_DIR/mpii.pth: the shared
fc2 rows and that dataset's expert as each block's fc2, that dataset's head
cut to its keypoints. Then e.g.

    python tools/test.py \
        configs/downstream/pose/td-hm_hapvit-b_8xb64-210e_mpii-256x192.py \
        OUT_DIR/mpii.pth
"""
import argparse
import os.path as osp
from typing import Optional, Sequence

from hap_mm.models.utils import (
    CheckpointLoadError,
    extract_state_dict,
    load_checkpoint_file,
)
from hap_mm.models.utils.backbone_converter import save_atomically
from hap_mm.models.utils.moe_split import split_moe_state_dict


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('ckpt', help='multi-dataset (HAPViTMoE) checkpoint')
    parser.add_argument('out_dir', help='folder for the per-dataset files')
    parser.add_argument(
        '--datasets',
        nargs='+',
        default=['coco', 'aic', 'mpii'],
        help='dataset of each expert / head, in the model\'s order '
        '(its dataset_names); also the output file names')
    parser.add_argument(
        '--num-keypoints',
        type=int,
        nargs='+',
        default=[17, 14, 16],
        help='keypoints of each dataset (the head is cut to them)')
    parser.add_argument(
        '--force', action='store_true', help='overwrite existing outputs')
    parser.add_argument(
        '--unsafe-load',
        action='store_true',
        help='allow pickled objects in CKPT (only for files you trust)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    dsts = [osp.join(args.out_dir, f'{name}.pth') for name in args.datasets]
    existing = [dst for dst in dsts if osp.exists(dst)]
    if existing and not args.force:
        raise SystemExit(f'error: {existing} exist; pass --force to '
                         'overwrite them')
    try:
        checkpoint = load_checkpoint_file(args.ckpt, args.unsafe_load)
        plain = split_moe_state_dict(
            extract_state_dict(checkpoint), args.datasets, args.num_keypoints)
    except (CheckpointLoadError, ValueError) as e:
        raise SystemExit(f'error: {args.ckpt}: {e}') from e
    for k, (name, dst) in enumerate(zip(args.datasets, dsts)):
        meta = dict(split_from=osp.abspath(args.ckpt), dataset=name, expert=k,
                    num_keypoints=args.num_keypoints[k])
        save_atomically(dict(meta=meta, state_dict=plain[name]), dst,
                        force=args.force)
        print(f'{name}: expert {k}, head cut to {args.num_keypoints[k]} '
              f'keypoints, {len(plain[name])} tensors -> {dst}')


if __name__ == '__main__':
    main()
