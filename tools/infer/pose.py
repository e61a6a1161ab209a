"""Top-down 2-D human pose on whole images with a trained hap_mm pose model
and an mmdet person detector, through mmpose's MMPoseInferencer: writes
pose_<image>.png (the image with the boxes and skeletons) and pose.json
(per image, each person's box, keypoints and scores in image pixels) to
--out.

    python tools/infer/pose.py POSE_CONFIG POSE_CKPT IMG_OR_DIR [...] \\
        --det-config DET_CONFIG --det-checkpoint DET_CKPT --out DIR

POSE_CONFIG is a single-dataset config of configs/downstream/pose/ (for the
COCO+AIC+MPII model: the COCO config and the checkpoint
tools/model_converters/split_moe.py writes). Boxes of the classes
--det-cat-ids scoring above --bbox-thr are kept (NMS at --nms-thr); when
none is, mmpose estimates one pose over the whole image (its box is the
image, score 1).
"""
import argparse
import json
import os.path as osp
import sys
from typing import Optional, Sequence

from hap_mm.apis import (
    atomic_write_bytes,
    encode_png,
    estimate_poses,
    init_pose_inferencer,
    keypoint_names,
    list_images,
    load_image,
)
from hap_mm.models.utils import CheckpointLoadError
from hap_mm.utils import HelpFormatter


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument('config', help='The top-down pose config.')
    parser.add_argument('checkpoint', help='A checkpoint of that config.')
    parser.add_argument('images', nargs='+', help='Images or folders.')
    parser.add_argument(
        '--det-config', required=True, help='The mmdet detector config.')
    parser.add_argument(
        '--det-checkpoint', required=True,
        help='A checkpoint of the detector.')
    parser.add_argument('--out', required=True, help='Output folder.')
    parser.add_argument(
        '--det-cat-ids', type=int, nargs='+', default=[0],
        help='Detector classes that are persons (0 for COCO detectors and '
        'person-only ones).')
    parser.add_argument(
        '--bbox-thr', type=float, default=0.3,
        help='Boxes scoring above this are kept.')
    parser.add_argument(
        '--nms-thr', type=float, default=0.3,
        help='IoU above which the lower-scoring box is dropped.')
    parser.add_argument(
        '--kpt-thr', type=float, default=0.3,
        help='Keypoints scoring above this are drawn (the JSON has all).')
    parser.add_argument(
        '--no-bbox', action='store_true', help='Do not draw the boxes.')
    parser.add_argument(
        '--device', default='cpu', help='Where the models run (cpu, cuda).')
    parser.add_argument(
        '--no-progress', action='store_true', help='No progress bar.')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    from mmengine.utils import ProgressBar
    args = parse_args(argv)
    try:
        images = list_images(args.images)
        for image in images:  # every image decodes before the models load
            load_image(image)
        inferencer = init_pose_inferencer(
            args.config, args.checkpoint, args.det_config,
            args.det_checkpoint, args.det_cat_ids, args.device)
        bar = None if args.no_progress else ProgressBar(
            len(images), file=sys.stderr)
        results, pictures = [], {}
        for image in images:
            instances, picture = estimate_poses(
                inferencer, image, args.bbox_thr, args.nms_thr,
                args.kpt_thr, not args.no_bbox)
            stem = osp.splitext(osp.basename(image))[0]
            name = f'pose_{stem}.png'
            if name in pictures:  # same name in two folders
                name = f'pose_{stem}_{len(pictures)}.png'
            pictures[name] = encode_png(picture)
            results.append(dict(image=image, picture=name,
                                instances=instances))
            if bar is not None:
                bar.update()
        if bar is not None:
            sys.stderr.write('\n')
    except (OSError, ValueError, CheckpointLoadError) as e:
        raise SystemExit(f'error: {e}') from e
    for name, data in pictures.items():
        atomic_write_bytes(osp.join(args.out, name), data)
    report = dict(
        config=args.config, checkpoint=args.checkpoint,
        det_config=args.det_config, det_checkpoint=args.det_checkpoint,
        det_cat_ids=args.det_cat_ids, bbox_thr=args.bbox_thr,
        nms_thr=args.nms_thr, keypoint_names=keypoint_names(inferencer),
        results=results)
    atomic_write_bytes(
        osp.join(args.out, 'pose.json'),
        json.dumps(report, indent=2).encode())
    persons = sum(len(r['instances']) for r in results)
    print(f'{len(images)} images, {persons} persons; wrote {len(pictures)} '
          f'pictures and pose.json to {args.out}')
    return report


if __name__ == '__main__':
    main()
