"""Build ``data/demo``: person crops with 17 COCO keypoints, release layout.

Reads the mmpose test fixtures (COCO, MPII, AI Challenger and CrowdPose
annotations with their real images), keeps persons with at least
``--min-visible`` keypoints that map to COCO-17, crops each person's box
with ``--pad`` relative padding (grown to contain every labelled keypoint,
then clipped to the image) and writes::

    OUT/images/<source>/<image>_<person>.jpg
    OUT/keypoints/<source>/<image>_<person>.npy   # [[{'keypoints': (17, 3)}]]
    OUT/ATTRIBUTION.md

Keypoints are x, y, score in crop pixels; score 1.0 for labelled visible
joints, 0.5 for labelled occluded ones (COCO v=1), 0 (and x = y = 0) for
unlabelled joints, for COCO joints the source skeleton has no exact
counterpart for (MPII/AIC/CrowdPose have no eyes, ears or nose), and for
labelled points outside the image (the only ones the clipped crop can miss).

    python tools/data/build_demo_data.py --force
"""
import argparse
import json
import os
import os.path as osp
import shutil
from typing import Any, Dict, Iterator, List, Tuple

import numpy as np
from PIL import Image

from hap_mm.utils import HelpFormatter

COCO_NAMES = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
    'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
    'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle',
    'right_ankle')
LIMBS = ('shoulder', 'elbow', 'wrist', 'hip', 'knee', 'ankle')
# Joint orders from mmpose's dataset metainfo (configs/_base_/datasets).
SOURCE_NAMES = {
    'mpii': ('right_ankle', 'right_knee', 'right_hip', 'left_hip',
             'left_knee', 'left_ankle', 'pelvis', 'thorax', 'upper_neck',
             'head_top', 'right_wrist', 'right_elbow', 'right_shoulder',
             'left_shoulder', 'left_elbow', 'left_wrist'),
    'aic': ('right_shoulder', 'right_elbow', 'right_wrist', 'left_shoulder',
            'left_elbow', 'left_wrist', 'right_hip', 'right_knee',
            'right_ankle', 'left_hip', 'left_knee', 'left_ankle', 'head_top',
            'neck'),
    'crowdpose': ('left_shoulder', 'right_shoulder', 'left_elbow',
                  'right_elbow', 'left_wrist', 'right_wrist', 'left_hip',
                  'right_hip', 'left_knee', 'right_knee', 'left_ankle',
                  'right_ankle', 'top_head', 'neck'),
}
SOURCE_FILES = {
    'coco': 'coco/test_coco.json',
    'aic': 'aic/test_aic.json',
    'crowdpose': 'crowdpose/test_crowdpose.json',
    'mpii': 'mpii/test_mpii.json',
}
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

Box = Tuple[float, float, float, float]  # x, y, w, h in image pixels
# (image path, person id, (17, 3) x, y, COCO visibility in image pixels, box)
Person = Tuple[str, str, np.ndarray, Box]


def load_json(path: str) -> Any:
    """Parse ``path``; errors name the file."""
    with open(path) as f:  # FileNotFoundError names the path
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'{path} is not valid JSON: {e}') from None


def to_coco(names: Tuple[str, ...], xyv: np.ndarray) -> np.ndarray:
    """(K, 3) x, y, visibility in ``names`` order -> (17, 3) COCO order."""
    out = np.zeros((17, 3), np.float32)
    for k, name in enumerate(names):
        if name in COCO_NAMES and name.split('_')[-1] in LIMBS:
            out[COCO_NAMES.index(name)] = xyv[k]
    return out


def coco_style_persons(src: str, source: str) -> Iterator[Person]:
    """Persons of a COCO-format file (COCO 17, AIC 14, CrowdPose 14)."""
    path = osp.join(src, SOURCE_FILES[source])
    ann = load_json(path)
    try:
        files = {img['id']: img['file_name'] for img in ann['images']}
        for a in sorted(ann['annotations'], key=lambda a: a['id']):
            xyv = np.asarray(a['keypoints'], np.float32).reshape(-1, 3)
            kpts = (xyv if source == 'coco' else
                    to_coco(SOURCE_NAMES[source], xyv))
            yield (osp.join(osp.dirname(path), files[a['image_id']]),
                   str(a['id']), kpts, tuple(a['bbox']))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f'{path}: malformed COCO annotation ({e!r})') from None


def mpii_persons(src: str) -> Iterator[Person]:
    """Persons of mmpose's MPII json; the box is all labelled joints' extent
    (head_top included, so the head is in the crop)."""
    path = osp.join(src, SOURCE_FILES['mpii'])
    try:
        for i, a in enumerate(load_json(path)):
            joints = np.asarray(a['joints'], np.float32).reshape(16, 2)
            vis = np.asarray(a['joints_vis'], np.float32).reshape(16) * 2
            labelled = joints[vis > 0]
            if not len(labelled):
                continue
            (x0, y0), (x1, y1) = labelled.min(0), labelled.max(0)
            xyv = np.concatenate([joints, vis[:, None]], 1)
            yield (osp.join(osp.dirname(path), a['image']), str(i),
                   to_coco(SOURCE_NAMES['mpii'], xyv),
                   (x0, y0, x1 - x0, y1 - y0))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f'{path}: malformed MPII annotation ({e!r})') from None


def crop_box(size: Tuple[int, int], kpts: np.ndarray, box: Box,
             pad: float) -> Tuple[int, int, int, int]:
    """(left, top, right, bottom): padded box grown to contain the labelled
    joints, clipped to an image of ``size`` (width, height)."""
    x, y, w, h = box
    labelled = kpts[kpts[:, 2] > 0, :2]
    x0 = min(x - pad * w, labelled[:, 0].min())
    y0 = min(y - pad * h, labelled[:, 1].min())
    x1 = max(x + (1 + pad) * w, labelled[:, 0].max() + 1)
    y1 = max(y + (1 + pad) * h, labelled[:, 1].max() + 1)
    return (max(0, int(np.floor(x0))), max(0, int(np.floor(y0))),
            min(size[0], int(np.ceil(x1))), min(size[1], int(np.ceil(y1))))


def release_keypoints(kpts: np.ndarray, crop: Tuple[int, int, int, int]
                      ) -> np.ndarray:
    """(17, 3) x, y, score in crop pixels; joints unlabelled or outside the
    crop are zeros."""
    left, top, right, bottom = crop
    xy = kpts[:, :2] - np.array([left, top], np.float32)
    keep = ((kpts[:, 2] > 0) & (xy[:, 0] >= 0) & (xy[:, 1] >= 0)
            & (xy[:, 0] < right - left) & (xy[:, 1] < bottom - top))
    out = np.zeros((17, 3), np.float32)
    out[keep, :2] = xy[keep]
    out[keep, 2] = np.where(kpts[keep, 2] >= 2, 1.0, 0.5)
    return out


def build(src: str, out: str, pad: float, min_visible: int,
          min_side: int) -> Dict[str, int]:
    """Write the crops and keypoint files under ``out``; crops per source."""
    persons: List[Tuple[str, Person]] = []
    for source in ('coco', 'aic', 'crowdpose'):
        persons += [(source, p) for p in coco_style_persons(src, source)]
    persons += [('mpii', p) for p in mpii_persons(src)]
    counts = {source: 0 for source in SOURCE_FILES}
    for source, (img_path, pid, kpts, box) in persons:
        if int((kpts[:, 2] > 0).sum()) < min_visible:
            continue
        if not osp.isfile(img_path):
            raise FileNotFoundError(f'annotated image {img_path} is missing')
        with Image.open(img_path) as im:
            img = im.convert('RGB')
        crop = crop_box(img.size, kpts, box, pad)
        release = release_keypoints(kpts, crop)
        if (min(crop[2] - crop[0], crop[3] - crop[1]) < min_side
                or int((release[:, 2] > 0).sum()) < min_visible):
            continue
        stem = f'{osp.splitext(osp.basename(img_path))[0]}_{pid}'
        img_dir = osp.join(out, 'images', source)
        kpt_dir = osp.join(out, 'keypoints', source)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(kpt_dir, exist_ok=True)
        img.crop(crop).save(osp.join(img_dir, stem + '.jpg'), quality=90)
        obj = np.empty((1, 1), dtype=object)
        obj[0, 0] = {'keypoints': release}
        np.save(osp.join(kpt_dir, stem + '.npy'), obj, allow_pickle=True)
        counts[source] += 1
    return counts


ATTRIBUTION = """# Demo data

Person crops with 17 COCO keypoints each, in the HAP release layout
(`images/<source>/<name>.jpg`, `keypoints/<source>/<name>.npy` holding
`[[{{'keypoints': (17, 3)}}]]`, x, y, score in crop pixels).

Made by `tools/data/build_demo_data.py` from the test data of OpenMMLab's
mmpose (https://github.com/open-mmlab/mmpose, `tests/data/`, Apache License
2.0), whose images come from:

- COCO val2017 (cocodataset.org; annotations CC BY 4.0, images under their
  Flickr licences),
- MPII Human Pose (human-pose.mpi-inf.mpg.de; Simplified BSD licence, research
  use),
- AI Challenger (challenger.ai; research use),
- CrowdPose (github.com/Jeff-sjtu/CrowdPose; research use).

Each dataset's own terms apply to its images.

Crops: each person's box (MPII: the extent of the labelled joints, head top
included) plus {pad:.0%} padding per side, grown to contain every labelled
keypoint, clipped to the image. Persons with fewer than {min_visible} labelled
COCO-17 keypoints or a crop side under {min_side} px are skipped. Scores: 1.0
labelled and visible, 0.5 labelled but occluded, 0 (with x = y = 0)
unlabelled, outside the image, or absent from the source skeleton (MPII, AI
Challenger and CrowdPose have no nose, eyes or ears; their
head_top/neck/pelvis/thorax joints have no COCO counterpart and are dropped).

Crops per source: {counts}.

Rebuild (from the repository root, with the fixtures in
`../shared/data/mmpose_fixtures`):

    {command}
"""


def main() -> None:
    """Parse the command line, build into OUT.tmp, then swap it in."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument(
        '--src',
        default=osp.join(osp.dirname(ROOT), 'shared', 'data',
                         'mmpose_fixtures'),
        help="The folder of mmpose's test fixtures (its tests/data).")
    parser.add_argument(
        '--out',
        default=osp.join(ROOT, 'data', 'demo'),
        help='The output folder.')
    parser.add_argument(
        '--pad',
        type=float,
        default=0.1,
        help="Padding added to each side of a person's box, relative to "
        'its width and height.')
    parser.add_argument(
        '--min-visible',
        type=int,
        default=8,
        help='Keep persons with at least this many labelled keypoints.')
    parser.add_argument(
        '--min-side',
        type=int,
        default=32,
        help='Drop crops whose shorter side is below this many pixels.')
    parser.add_argument(
        '--force', action='store_true', help='Replace an existing output.')
    args = parser.parse_args()
    if args.min_visible < 1 or args.pad < 0:
        parser.error('--min-visible must be >= 1 and --pad >= 0')
    out = osp.normpath(args.out)
    if osp.exists(out) and not osp.isdir(out):
        parser.error(f'{out} exists and is not a folder')
    if osp.isdir(out) and os.listdir(out) and not args.force:
        parser.error(f'{out} exists and is not empty; pass --force to '
                     'replace it')
    tmp, old = out + '.tmp', out + '.old'
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        counts = build(args.src, tmp, args.pad, args.min_visible,
                       args.min_side)
    except (OSError, ValueError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SystemExit(f'error: {e}') from None
    command = ('python tools/data/build_demo_data.py --force '
               f'--pad {args.pad} --min-visible {args.min_visible} '
               f'--min-side {args.min_side}')
    with open(osp.join(tmp, 'ATTRIBUTION.md'), 'w') as f:
        f.write(ATTRIBUTION.format(
            command=command, pad=args.pad, min_visible=args.min_visible,
            min_side=args.min_side,
            counts=', '.join(f'{s} {n}' for s, n in counts.items())))
    shutil.rmtree(old, ignore_errors=True)
    if osp.exists(out):
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
    size = sum(
        osp.getsize(osp.join(d, n)) for d, _, names in os.walk(out)
        for n in names)
    print(f'wrote {sum(counts.values())} crops to {out} '
          f'({size / 1e6:.2f} MB)')
    for source, n in counts.items():
        print(f'  {source:10s} {n}')


if __name__ == '__main__':
    main()
