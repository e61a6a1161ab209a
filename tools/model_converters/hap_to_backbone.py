"""Convert a HAP pre-training, HAP release or ImageNet MAE checkpoint into
``backbone.*`` weights that stock mmpose / mmseg / mmdet / mmpretrain
configs load with ``init_cfg=dict(type='Pretrained', checkpoint=DST,
prefix='backbone.')``.

    python tools/model_converters/hap_to_backbone.py SRC DST [--img-size H W] [--force]
"""
import argparse
import time

import hap_mm
from hap_mm.models.utils import load_checkpoint_file
from hap_mm.models.utils.backbone_converter import convert_to_backbone, save_atomically


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='checkpoint to convert')
    parser.add_argument('dst', help='where to write the backbone weights')
    parser.add_argument(
        '--img-size',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='resize the position embedding to this input size now '
        '(otherwise the backbone resizes it when loading)')
    parser.add_argument(
        '--src-img-size',
        type=int,
        nargs=2,
        default=(256, 128),
        metavar=('H', 'W'),
        help='input size a non-square position embedding was trained at')
    parser.add_argument('--patch-size', type=int, default=16)
    parser.add_argument(
        '--force', action='store_true', help='overwrite DST if it exists')
    parser.add_argument(
        '--unsafe-load',
        action='store_true',
        help='allow pickled objects in SRC (only for files you trust)')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    checkpoint = load_checkpoint_file(args.src, args.unsafe_load)
    state_dict, kept, dropped, meta = convert_to_backbone(
        checkpoint, args.img_size, args.patch_size, args.src_img_size)
    meta.update(
        source=args.src,
        hap_mm_version=hap_mm.__version__,
        time=time.strftime('%Y-%m-%d %H:%M:%S'),
        img_size=args.img_size)
    try:
        save_atomically({'state_dict': state_dict, 'meta': meta}, args.dst,
                        args.force)
    except FileExistsError as e:
        raise SystemExit(str(e)) from e
    print(f'kept {len(kept)} tensors as backbone.*; dropped {len(dropped)}'
          + (f': {", ".join(sorted(dropped)[:12])}' if dropped else ''))
    if 'grid' in meta:
        print(f'pos_embed resized from grid {meta["src_grid"]} to '
              f'{meta["grid"]}')
    print(f'wrote {args.dst}')


if __name__ == '__main__':
    main()
