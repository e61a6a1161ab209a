"""Export a hap_mm model's embedding path to ONNX and verify it with
onnxruntime: input ``image`` (B, 3, H, W) float32 RGB in 0..255 at the
backbone's img_size, output ``embedding`` (B, C), L2-normalised (the ReID
test feature; for a pre-training config the encoder's CLS token of the
unmasked image). The export is run on random images with onnxruntime and
compared with PyTorch; the max abs difference is printed and the file is
written only when it is at most --tolerance.

    python tools/deployment/export_onnx.py CONFIG CKPT --out model.onnx \\
        [--dynamic-batch]

Needs the optional packages onnx and onnxruntime (requirements/optional.txt).
"""
import argparse
from typing import Optional, Sequence

from hap_mm.apis import init_model
from hap_mm.apis.export import export_onnx
from hap_mm.models.utils import CheckpointLoadError
from hap_mm.utils import HelpFormatter


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument('config', help='A hap_mm config.')
    parser.add_argument('checkpoint', help='A checkpoint of that config.')
    parser.add_argument('--out', required=True, help='The ONNX file.')
    parser.add_argument(
        '--dynamic-batch', action='store_true',
        help='A variable batch size (verified with batches 1 and 3).')
    parser.add_argument(
        '--tolerance', type=float, default=1e-4,
        help='Largest max abs difference from PyTorch accepted.')
    parser.add_argument(
        '--opset', type=int, default=17, help='ONNX opset version.')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    try:
        model = init_model(args.config, args.checkpoint, 'cpu')
        report = export_onnx(model, args.out, args.dynamic_batch,
                             tolerance=args.tolerance, opset=args.opset)
    except (OSError, ValueError, CheckpointLoadError) as e:
        raise SystemExit(f'error: {e}') from e
    for batch, diff in report['max_abs_diff'].items():
        print(f'batch {batch}: max abs difference onnxruntime vs PyTorch '
              f'{diff:.3g}')
    print(f'wrote {args.out}: {report["input"]} -> {report["output"]}')
    return report


if __name__ == '__main__':
    main()
