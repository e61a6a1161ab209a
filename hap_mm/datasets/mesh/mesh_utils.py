"""Plain helpers of the mesh readers: boxes as 3DCrowdNet processes them,
overlap between people, checked array parsing.

Boxes are ``(x, y, w, h)`` in image pixels throughout.
"""
import json
import os.path as osp

import numpy as np


class MalformedEntry(ValueError):
    """An annotation entry that cannot be read (the reader skips and counts
    it, naming the file and the entry id)."""


def process_bbox(bbox, img_width, img_height, aspect_ratio=1.0, scale=1.25,
                 keep_degenerate=False):
    """3DCrowdNet's box processing: clip to the image, grow the shorter side
    to the input aspect ratio (``w / h``), then scale both sides.

    Args:
        bbox (array-like): (4,) ``x, y, w, h`` image px.
        img_width (int): Image width px.
        img_height (int): Image height px.
        aspect_ratio (float): Input ``width / height`` (1 for 256x256).
        scale (float): Side scale after the aspect correction (1.25).
        keep_degenerate (bool): Keep a box with no area instead of
            returning None (the release's 3DPW-test branch).

    Returns:
        np.ndarray | None: (4,) float32 ``x, y, w, h`` centred on the clipped
        box, or None when the clipped box is empty and
        ``keep_degenerate`` is False.
    """
    x, y, w, h = (float(v) for v in bbox)
    x1 = max(0., x)
    y1 = max(0., y)
    x2 = min(img_width - 1., x1 + max(0., w - 1.))
    y2 = min(img_height - 1., y1 + max(0., h - 1.))
    if not keep_degenerate and not (w * h > 0 and x2 >= x1 and y2 >= y1):
        return None
    w, h = x2 - x1, y2 - y1
    cx, cy = x1 + w / 2., y1 + h / 2.
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    w, h = w * scale, h * scale
    return np.array([cx - w / 2., cy - h / 2., w, h], dtype=np.float32)


def bbox_from_joints(joints, valid, extend=1.2):
    """The box around the valid joints, each side extended ``extend`` times
    about its centre (3DCrowdNet's ``get_bbox``).

    Args:
        joints (np.ndarray): (J, >=2) x, y image px.
        valid (np.ndarray): (J,) truthy for the joints to use.
        extend (float): Side scale.

    Returns:
        np.ndarray | None: (4,) float32 ``x, y, w, h``; None without a valid
        joint.
    """
    valid = np.asarray(valid).reshape(-1) > 0
    if not valid.any():
        return None
    xy = np.asarray(joints, dtype=np.float64)[valid, :2]
    (xmin, ymin), (xmax, ymax) = xy.min(0), xy.max(0)
    w, h = (xmax - xmin) * extend, (ymax - ymin) * extend
    cx, cy = (xmin + xmax) / 2., (ymin + ymax) / 2.
    return np.array([cx - w / 2., cy - h / 2., w, h], dtype=np.float32)


def box_iou(a, b):
    """IoU of two ``x, y, w, h`` boxes as 3DCrowdNet's ``compute_iou``
    (a 1e-5 guard in the denominator)."""
    ix = max(0., min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0., min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter + 1e-5)


def overlapping_people(index, tight_bboxes, joints, iou_thr=0.1):
    """Joints of the other people of an image whose tight box overlaps the
    one of person ``index`` (IoU >= ``iou_thr``), for PoseFix-style input
    synthesis.

    Args:
        index (int): The person.
        tight_bboxes (Sequence[np.ndarray]): (4,) boxes of all people.
        joints (Sequence[np.ndarray]): (17, 3) COCO-order joints of all
            people (x, y, valid).

    Returns:
        tuple[np.ndarray, int]: near joints (K, 17, 3) float32 and K.
    """
    near = [
        joints[j] for j in range(len(tight_bboxes))
        if j != index and box_iou(tight_bboxes[index], tight_bboxes[j]) >=
        iou_thr
    ]
    if not near:
        return np.zeros((0, 17, 3), dtype=np.float32), 0
    return np.stack(near).astype(np.float32), len(near)


def as_array(value, shape, what):
    """``value`` as a finite float32 array of ``shape`` (a -1 entry is free).

    Raises:
        MalformedEntry: wrong size, not numeric or not finite.
    """
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise MalformedEntry(f'{what} is not numeric') from None
    try:
        arr = arr.reshape(shape)
    except ValueError:
        raise MalformedEntry(f'{what} has {arr.size} values, expected shape '
                             f'{tuple(shape)}') from None
    if not np.isfinite(arr).all():
        raise MalformedEntry(f'{what} has non-finite values')
    return arr


def load_json(path, dataset, release):
    """Read a JSON file; a missing file is an error naming the expected path
    and the public release it comes from."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{dataset}: expected {path} (from {release}); see '
            'docs/mesh.md for the data layout')
    with open(path, encoding='utf-8') as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'{dataset}: {path} is not valid JSON: {e}'
                             ) from None


def coco_index(db, path, dataset):
    """Images by id and their annotations (file order) of a COCO-format dict.

    Returns:
        tuple[dict, dict, list]: ``images[id]``, ``anns_of[image id]`` and
        the annotations whose image id is unknown.
    """
    if not isinstance(db, dict) or not isinstance(db.get('images'), list) \
            or not isinstance(db.get('annotations'), list):
        raise ValueError(f'{dataset}: {path} must be a COCO-format dict with '
                         "'images' and 'annotations' lists")
    images = {}
    for img in db['images']:
        if isinstance(img, dict) and 'id' in img:
            images[img['id']] = img
    anns_of = {img_id: [] for img_id in images}
    orphans = []
    for ann in db['annotations']:
        img_id = ann.get('image_id') if isinstance(ann, dict) else None
        if img_id in anns_of:
            anns_of[img_id].append(ann)
        else:
            orphans.append(ann)
    return images, anns_of, orphans


def image_size(img, what):
    """(height, width) ints of a COCO image entry."""
    try:
        h, w = int(img['height']), int(img['width'])
    except (KeyError, TypeError, ValueError):
        raise MalformedEntry(f'{what} lacks a numeric width/height') from None
    if h <= 0 or w <= 0:
        raise MalformedEntry(f'{what} has size {w}x{h}')
    return h, w
