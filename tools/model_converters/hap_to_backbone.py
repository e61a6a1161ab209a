"""Convert a HAP pre-training, HAP release or ImageNet MAE checkpoint into
``backbone.*`` weights that stock mmpose / mmseg / mmdet / mmpretrain
configs load with ``init_cfg=dict(type='Pretrained', checkpoint=DST,
prefix='backbone.')``.

    python tools/model_converters/hap_to_backbone.py SRC DST [--img-size H W] [--force]
"""
import argparse
from typing import Optional, Sequence

from hap_mm.models.utils import CheckpointLoadError
from hap_mm.models.utils.backbone_converter import (
    convert_checkpoint_file,
    summarize_keys,
)
from hap_mm.utils import HelpFormatter


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument(
        'src',
        help='The checkpoint to convert: hap_mm pre-training, HAP release '
        'or ImageNet MAE (timm or mmpretrain names).')
    parser.add_argument(
        'dst',
        help='Where to write the backbone weights (mode 0666 less the '
        'umask, usually 0644).')
    parser.add_argument(
        '--img-size',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='Resize the position embedding to this input size now '
        '(otherwise the backbone resizes it when loading).')
    parser.add_argument(
        '--src-img-size',
        type=int,
        nargs=2,
        default=(256, 128),
        metavar=('H', 'W'),
        help='The input size a non-square position embedding was trained '
        'at.')
    parser.add_argument(
        '--patch-size',
        type=int,
        default=16,
        help='The patch size of the ViT, in pixels.')
    parser.add_argument(
        '--force', action='store_true', help='Overwrite DST if it exists.')
    parser.add_argument(
        '--unsafe-load',
        action='store_true',
        help='Allow pickled objects in SRC (only for files you trust).')
    parser.add_argument(
        '--allow-nonfinite',
        action='store_true',
        help='Convert even if the weights hold NaN or inf (a diverged run).')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    try:
        report = convert_checkpoint_file(
            args.src, args.dst, args.img_size, args.force, args.unsafe_load,
            args.patch_size, args.src_img_size, args.allow_nonfinite)
    except (OSError, ValueError, CheckpointLoadError) as e:
        raise SystemExit(f'error: {e}') from e
    meta = report['meta']
    print(f'source: {meta["src_format"]}')
    print(f'kept {len(report["kept"])} tensors as backbone.*: '
          f'{summarize_keys(report["kept"])}')
    dropped = report['dropped']
    print(f'dropped {len(dropped)}' +
          (f': {summarize_keys(dropped)}' if dropped else ''))
    if 'grid' in meta and meta['grid'] != meta['src_grid']:
        print(f'pos_embed resized from grid {meta["src_grid"]} to '
              f'{meta["grid"]} (bicubic, CLS kept)')
    elif 'grid' in meta:
        print(f'pos_embed kept at grid {meta["grid"]} (the backbone resizes '
              'it to its input when loading)')
    print(f'wrote {args.dst}')


if __name__ == '__main__':
    main()
