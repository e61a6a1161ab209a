"""Pedestrian attributes of person crops with a trained hap_mm attribute
model: attributes.json (each image's attributes at or above the threshold
and every probability) and attributes_<image>.png (the crop beside a bar
chart of the probabilities) in --out.

    python tools/infer/attributes.py CONFIG CKPT IMG [IMG ...] --out DIR

Attribute names come from the checkpoint (``meta.dataset_meta.classes``,
which training checkpoints carry), else attr0, attr1, ...
"""
import argparse
import json
import os.path as osp
from typing import Optional, Sequence

from hap_mm.apis import (
    atomic_write_bytes,
    attribute_names,
    attribute_picture,
    encode_png,
    init_model,
    predict_attributes,
)
from hap_mm.models.utils import CheckpointLoadError
from hap_mm.utils import HelpFormatter


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument('config', help='The attribute config.')
    parser.add_argument('checkpoint', help='A checkpoint of that config.')
    parser.add_argument('images', nargs='+', help='Images or folders.')
    parser.add_argument('--out', required=True, help='Output folder.')
    parser.add_argument(
        '--threshold', type=float, default=None,
        help='Probability at or above which an attribute is reported '
        "(default: the config's test_evaluator threshold, else 0.5).")
    parser.add_argument(
        '--batch-size', type=int, default=32, help='Images per forward.')
    parser.add_argument(
        '--device', default='cpu', help='Where the model runs (cpu, cuda).')
    parser.add_argument(
        '--no-progress', action='store_true', help='No progress bar.')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    try:
        model = init_model(args.config, args.checkpoint, args.device)
        threshold = args.threshold
        if threshold is None:
            threshold = model.cfg.get('test_evaluator', {}).get(
                'threshold', 0.5)
        probs, images = predict_attributes(
            model, args.images, args.batch_size, not args.no_progress)
        names = attribute_names(model, probs.shape[1])
        results, pictures = [], {}
        for image, row in zip(images, probs):
            stem = osp.splitext(osp.basename(image))[0]
            name = f'attributes_{stem}.png'
            if name in pictures:  # same name in two folders
                name = f'attributes_{stem}_{len(pictures)}.png'
            pictures[name] = encode_png(
                attribute_picture(image, row, names, threshold))
            results.append(
                dict(image=image, picture=name,
                     attributes=[n for n, p in zip(names, row)
                                 if p >= threshold],
                     probabilities={n: float(p)
                                    for n, p in zip(names, row)}))
    except (OSError, ValueError, CheckpointLoadError) as e:
        raise SystemExit(f'error: {e}') from e
    for name, data in pictures.items():
        atomic_write_bytes(osp.join(args.out, name), data)
    report = dict(config=args.config, checkpoint=args.checkpoint,
                  threshold=threshold, results=results)
    atomic_write_bytes(
        osp.join(args.out, 'attributes.json'),
        json.dumps(report, indent=2).encode())
    print(f'{len(images)} images; wrote {len(pictures)} pictures and '
          f'attributes.json to {args.out}')
    return report


if __name__ == '__main__':
    main()
