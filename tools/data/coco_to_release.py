"""Cut labelled persons out of a COCO-format keypoint file into the HAP
release layout, so labelled sets can be pre-trained on and used to check
keypoint extractors.

Reads any COCO-style file with 17 COCO keypoints per person (COCO,
OCHuman, Human-Art, PoseTrack) whose images lie under IMG_ROOT by
``file_name``, and writes for every kept person::

    OUT/images/<file_name without ext>_<ann id>.jpg
    OUT/keypoints/<file_name without ext>_<ann id>.npy   # [[{'keypoints': (17, 3)}]]
    OUT/crops.jsonl      # one {"img_path", "source", "ann_id", "box"} per crop

Kept: not ``iscrowd``, at least ``--min-visible`` labelled keypoints
(v > 0), crop side at least ``--min-side`` pixels. The crop is the
annotation box (the labelled keypoints' extent when it has none) plus
``--pad`` of its width/height on each side, grown to contain every labelled
keypoint and clipped to the image; ``box`` in crops.jsonl is that crop as
[left, top, right, bottom] in source pixels (right/bottom exclusive).
Keypoints are x, y in crop pixels (source x - left, y - top) with score
1.0 for v = 2 (visible), 0.5 for v = 1 (labelled, occluded) and 0 with
x = y = 0 for unlabelled joints.

Images are decoded with their EXIF orientation applied. When the decoded
size differs from the image record's ``width`` / ``height`` (e.g. a
rotation tag the annotators did not see), or an EXIF orientation changes
the pixels but not the size (a 180-degree turn, a mirror, a square image)
so that the annotation's frame cannot be told, the image's persons are
skipped and reported (``size_mismatch`` / ``ambiguous_orientation``):
never a crop of the wrong region. Unreadable images (any decoder error)
are skipped and counted as ``unreadable_image``. Temporary files that an
interrupted run left under OUT are removed.

    python tools/data/coco_to_release.py ANN_JSON IMG_ROOT OUT --pad 0.1 --min-visible 8
"""
import argparse
import json
import os
import os.path as osp
import sys
from collections import defaultdict
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from hap_mm.utils import HelpFormatter

NUM_KEYPOINTS = 17
Box = Tuple[int, int, int, int]  # left, top, right, bottom (exclusive)


def load_annotations(path: str) -> Tuple[Dict[int, dict], Dict[int, List[dict]]]:
    """Images by id and person annotations grouped by image id.

    Raises:
        SystemExit: the file is not COCO-format JSON; the message names it.
    """
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
        images = {img['id']: img for img in data['images']}
        anns = data['annotations']
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f'{path}: not a COCO-format keypoint file '
                         f'({e.__class__.__name__}: {e})') from e
    by_image: Dict[int, List[dict]] = defaultdict(list)
    for ann in anns:
        by_image[ann.get('image_id')].append(ann)
    return images, by_image


def annotation_keypoints(ann: dict) -> Optional[np.ndarray]:
    """(17, 3) x, y, v of an annotation, or ``None`` when it has none or
    not 17 of them."""
    kpts = ann.get('keypoints')
    if not kpts or len(kpts) != NUM_KEYPOINTS * 3:
        return None
    return np.asarray(kpts, np.float64).reshape(NUM_KEYPOINTS, 3)


def crop_box(kpts: np.ndarray, bbox: Optional[Sequence[float]], pad: float,
             width: int, height: int) -> Box:
    """The crop around a person, in integer source pixels.

    Args:
        kpts: (17, 3) x, y, v in source pixels.
        bbox: COCO [x, y, w, h] or ``None`` (labelled keypoints' extent).
        pad: relative padding per side (fraction of box width / height).
        width, height: source image size, the crop is clipped to it.
    """
    labelled = kpts[kpts[:, 2] > 0, :2]
    if bbox is None or len(bbox) != 4 or bbox[2] <= 0 or bbox[3] <= 0:
        x0, y0 = labelled.min(0)
        x1, y1 = labelled.max(0)
        bbox = (x0, y0, x1 - x0, y1 - y0)
    x, y, w, h = (float(v) for v in bbox)
    left = min(x - pad * w, labelled[:, 0].min())
    top = min(y - pad * h, labelled[:, 1].min())
    right = max(x + (1 + pad) * w, labelled[:, 0].max() + 1)
    bottom = max(y + (1 + pad) * h, labelled[:, 1].max() + 1)
    return (max(0, int(np.floor(left))), max(0, int(np.floor(top))),
            min(width, int(np.ceil(right))), min(height, int(np.ceil(bottom))))


def crop_keypoints(kpts: np.ndarray, left: int, top: int) -> np.ndarray:
    """(17, 3) source x, y, v -> (17, 3) float32 crop x, y, score."""
    out = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    labelled = kpts[:, 2] > 0
    out[labelled, 0] = kpts[labelled, 0] - left
    out[labelled, 1] = kpts[labelled, 1] - top
    out[labelled, 2] = np.where(kpts[labelled, 2] >= 2, 1.0, 0.5)
    return out


def safe_stem(file_name: str, ann_id) -> str:
    """``<file_name without ext>_<ann id>`` as a relative path.

    Raises:
        ValueError: the file name is absolute or leaves the output folder.
    """
    rel = osp.normpath(file_name)
    if osp.isabs(rel) or rel.startswith('..'):
        raise ValueError(f'file_name {file_name!r} leaves the output folder')
    return f'{osp.splitext(rel)[0]}_{ann_id}'


def exif_orientation(path: str) -> int:
    """The EXIF orientation tag of an image file (1, upright, if none)."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            return int(im.getexif().get(0x0112, 1))
    except Exception:  # no or broken EXIF: the decoder applied nothing
        return 1


def frame_problem(image: dict, hw: Tuple[int, int],
                  orientation: int) -> Tuple[str, str]:
    """(kind, message) when the decoded pixels may not be the frame the
    annotation's coordinates refer to, ('', '') when they are.

    Args:
        image: the COCO image record (``width``, ``height`` if given).
        hw: decoded (height, width), EXIF orientation applied.
        orientation: the file's EXIF orientation tag.
    """
    h, w = hw
    width, height = image.get('width'), image.get('height')
    known = width is not None and height is not None
    if known and (int(width), int(height)) != (w, h):
        return 'size_mismatch', (
            f'decoded {w}x{h} (EXIF orientation {orientation}) but the '
            f'annotation says {width}x{height}')
    if orientation != 1 and (not known or orientation in (2, 3, 4)
                             or w == h):
        return 'ambiguous_orientation', (
            f'EXIF orientation {orientation} changes the pixels but not the '
            'size: the frame of the annotation cannot be told')
    return '', ''


TEMP_SUFFIX = '.c2r.tmp'


def save_atomic_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a hidden temporary file."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = osp.join(osp.dirname(path), f'.{osp.basename(path)}{TEMP_SUFFIX}')
    with open(tmp, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)


def remove_stale_temps(out: str) -> int:
    """Remove the temporary files an interrupted run left under ``out``;
    returns how many."""
    removed = 0
    for cur, _, files in os.walk(out):
        for name in files:
            if name.startswith('.') and name.endswith(TEMP_SUFFIX):
                os.remove(osp.join(cur, name))
                removed += 1
    return removed


def save_keypoints(path: str, kpts: np.ndarray) -> None:
    """(17, 3) float32 -> ``[[{'keypoints': kpts}]]`` .npy, atomically."""
    import io
    obj = np.empty((1, 1), dtype=object)
    obj[0, 0] = {'keypoints': kpts}
    buf = io.BytesIO()
    np.save(buf, obj, allow_pickle=True)
    save_atomic_bytes(path, buf.getvalue())


Person = Tuple[dict, np.ndarray]  # annotation, (17, 3) x, y, v


def persons(images: Dict[int, dict], by_image: Dict[int, List[dict]],
            min_visible: int,
            counts: Dict[str, int]) -> Iterator[Tuple[dict, List[Person]]]:
    """(image record, [(annotation, (17, 3) keypoints)]) per image with at
    least one kept person; skips are counted in ``counts``."""
    for image_id in sorted(by_image, key=str):
        kept = []
        for ann in by_image[image_id]:
            kpts = annotation_keypoints(ann)
            if ann.get('iscrowd', 0):
                counts['crowd'] += 1
            elif kpts is None:
                counts['no_keypoints'] += 1
            elif int((kpts[:, 2] > 0).sum()) < min_visible:
                counts['too_few_keypoints'] += 1
            else:
                kept.append((ann, kpts))
        if not kept:
            continue
        if image_id not in images:
            counts['unknown_image'] += len(kept)
            continue
        yield images[image_id], kept


def convert(ann_json: str, img_root: str, out: str, pad: float,
            min_visible: int, min_side: int, quality: int) -> Dict[str, int]:
    """Write crops, keypoints and crops.jsonl; returns counts."""
    import cv2

    from hap_mm.datasets.image_io import printable, read_image
    images, by_image = load_annotations(ann_json)
    counts: Dict[str, int] = defaultdict(int)
    manifest = []
    if remove_stale_temps(out):
        print(f'removed temporary files of an interrupted run under {out}')
    for image, kept in persons(images, by_image, min_visible, counts):
        src = osp.join(img_root, image['file_name'])
        img, err = read_image(src)
        if img is None:
            print(printable(f'unreadable image {src}: {err} ({len(kept)} '
                            'persons skipped)'))
            counts['unreadable_image'] += len(kept)
            continue
        kind, problem = frame_problem(image, img.shape[:2],
                                      exif_orientation(src))
        if kind:
            print(printable(f'{src}: {problem} ({len(kept)} persons '
                            'skipped)'))
            counts[kind] += len(kept)
            continue
        height, width = img.shape[:2]
        for ann, kpts in kept:
            box = crop_box(kpts, ann.get('bbox'), pad, width, height)
            left, top, right, bottom = box
            if min(right - left, bottom - top) < min_side:
                counts['too_small'] += 1
                continue
            try:
                stem = safe_stem(image['file_name'], ann['id'])
            except ValueError as e:
                print(f'{ann_json}: {e}; skipped')
                counts['bad_file_name'] += 1
                continue
            ok, enc = cv2.imencode('.jpg', img[top:bottom, left:right],
                                   [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not ok:
                raise RuntimeError(f'{src}: JPEG encoding of a crop failed')
            save_atomic_bytes(osp.join(out, 'images', stem + '.jpg'),
                              enc.tobytes())
            save_keypoints(osp.join(out, 'keypoints', stem + '.npy'),
                           crop_keypoints(kpts, left, top))
            manifest.append(dict(img_path=stem + '.jpg',
                                 source=image['file_name'],
                                 ann_id=ann['id'], box=list(box)))
            counts['crops'] += 1
    text = ''.join(json.dumps(m) + '\n' for m in manifest)
    save_atomic_bytes(osp.join(out, 'crops.jsonl'), text.encode('utf-8'))
    return dict(counts)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument(
        'ann_json', help='The COCO-format keypoint annotation file.')
    parser.add_argument(
        'img_root', help='The folder the file_name entries are in.')
    parser.add_argument(
        'out', help='The output root (images/, keypoints/, crops.jsonl).')
    parser.add_argument(
        '--pad', type=float, default=0.1,
        help='Padding added to each side of the person box, relative to its '
        'width and height.')
    parser.add_argument(
        '--min-visible', type=int, default=8,
        help='Keep persons with at least this many labelled keypoints.')
    parser.add_argument(
        '--min-side', type=int, default=32,
        help='Drop crops whose shorter side is below this many pixels.')
    parser.add_argument(
        '--quality', type=int, default=95,
        help='The JPEG quality of the crops.')
    args = parser.parse_args(argv)
    if args.pad < 0:
        parser.error('--pad must be >= 0')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    counts = convert(args.ann_json, args.img_root, args.out, args.pad,
                     args.min_visible, args.min_side, args.quality)
    skipped = {k: v for k, v in sorted(counts.items()) if k != 'crops'}
    print(f"wrote {counts.get('crops', 0)} crops to {args.out}; skipped: "
          f'{skipped or "none"}')
    print('SUMMARY ' + json.dumps(dict(sorted(counts.items()))), flush=True)
    return 0 if counts.get('crops') else 1


if __name__ == '__main__':
    sys.exit(main())
