"""tools/data/coco_to_release.py: labelled persons -> release-layout crops
whose keypoints are the annotation's, moved into crop coordinates."""
import importlib.util
import json
import os
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from hap_mm.datasets import LUPersonKeypointDataset
from hap_mm.datasets.keypoint_io import keypoints_from_object, safe_load_npy

REPO = Path(__file__).resolve().parents[1]
TOOL = 'tools/data/coco_to_release.py'
DEMO_CROP = 'coco/000000000785_442619'
OFFSET = (70, 40)  # where the demo crop sits in the synthetic source image


def _load_tool():
    spec = importlib.util.spec_from_file_location('coco_to_release',
                                                  REPO / TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


c2r = _load_tool()


def _npy(path: Path) -> np.ndarray:
    return keypoints_from_object(safe_load_npy(path.read_bytes()))


@pytest.fixture
def coco_set(tmp_path, demo_root):
    """A 600 x 500 source image holding a demo crop at OFFSET, and a COCO
    file with that person (its labels, shifted), a crowd, a person with too
    few keypoints and a person on an image that is not listed."""
    crop = cv2.imread(str(demo_root / 'images' / (DEMO_CROP + '.jpg')))
    canvas = np.full((600, 500, 3), 127, np.uint8)
    dx, dy = OFFSET
    canvas[dy:dy + crop.shape[0], dx:dx + crop.shape[1]] = crop
    (tmp_path / 'src' / 'val').mkdir(parents=True)
    cv2.imwrite(str(tmp_path / 'src' / 'val' / 'scene.png'), canvas)

    gt = _npy(demo_root / 'keypoints' / (DEMO_CROP + '.npy'))
    labelled = gt[:, 2] > 0
    xyv = np.zeros((17, 3))
    xyv[labelled, 0] = gt[labelled, 0] + dx
    xyv[labelled, 1] = gt[labelled, 1] + dy
    xyv[labelled, 2] = np.where(gt[labelled, 2] >= 1, 2, 1)
    xyv[3, 2] = 1  # one occluded joint -> score 0.5
    xyv[3, :2] = xyv[1, :2]
    x0, y0 = xyv[xyv[:, 2] > 0, :2].min(0)
    x1, y1 = xyv[xyv[:, 2] > 0, :2].max(0)
    few = np.zeros((17, 3))
    few[:3] = [[100, 100, 2], [110, 100, 2], [120, 100, 2]]
    ann = dict(
        images=[dict(id=7, file_name='val/scene.png', width=500, height=600)],
        annotations=[
            dict(id=11, image_id=7, category_id=1, iscrowd=0,
                 bbox=[x0, y0, x1 - x0, y1 - y0], num_keypoints=int(
                     (xyv[:, 2] > 0).sum()), keypoints=xyv.ravel().tolist()),
            dict(id=12, image_id=7, category_id=1, iscrowd=1,
                 bbox=[0, 0, 50, 50], keypoints=xyv.ravel().tolist()),
            dict(id=13, image_id=7, category_id=1, iscrowd=0,
                 bbox=[90, 90, 40, 20], keypoints=few.ravel().tolist()),
            dict(id=14, image_id=99, category_id=1, iscrowd=0,
                 bbox=[x0, y0, x1 - x0, y1 - y0],
                 keypoints=xyv.ravel().tolist()),
        ],
        categories=[dict(id=1, name='person')])
    path = tmp_path / 'person_keypoints.json'
    path.write_text(json.dumps(ann))
    return path, tmp_path / 'src', canvas, xyv


def test_crops_hold_the_annotation_keypoints_in_crop_coordinates(
        coco_set, tmp_path, tool):
    ann_json, img_root, canvas, xyv = coco_set
    out = tmp_path / 'release'
    proc = tool([TOOL, ann_json, img_root, out, '--pad', '0.1',
                 '--min-visible', '8'])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout.splitlines()[-1][len('SUMMARY '):])
    assert summary == dict(crops=1, crowd=1, too_few_keypoints=1,
                           unknown_image=1)
    [record] = [json.loads(ln) for ln in (out / 'crops.jsonl').open()]
    assert record['img_path'] == 'val/scene_11.jpg'
    assert record['source'] == 'val/scene.png' and record['ann_id'] == 11
    left, top, right, bottom = record['box']

    kpts = _npy(out / 'keypoints' / 'val' / 'scene_11.npy')
    assert kpts.dtype == np.float32
    labelled = xyv[:, 2] > 0
    assert np.allclose(kpts[labelled, 0] + left, xyv[labelled, 0], atol=1e-3)
    assert np.allclose(kpts[labelled, 1] + top, xyv[labelled, 1], atol=1e-3)
    assert np.array_equal(kpts[labelled, 2],
                          np.where(xyv[labelled, 2] == 2, 1.0, 0.5))
    assert kpts[3, 2] == 0.5
    assert not kpts[~labelled].any()

    # the crop is the padded box grown around the keypoints: its pixels are
    # the source's, and every labelled joint lies inside it
    crop = cv2.imread(str(out / 'images' / 'val' / 'scene_11.jpg'))
    assert crop.shape[:2] == (bottom - top, right - left)
    diff = np.abs(crop.astype(int) - canvas[top:bottom, left:right]).mean()
    assert diff < 3
    assert (kpts[labelled, 0] < crop.shape[1]).all()
    assert (kpts[labelled, 1] < crop.shape[0]).all()
    assert (kpts[labelled, :2] >= 0).all()

    ds = LUPersonKeypointDataset(data_root=str(out), strict=True)
    sample = ds[0]
    assert np.allclose(sample['keypoints'][0], kpts[:, :2])
    assert np.array_equal(sample['keypoints_visible'][0], kpts[:, 2])


def test_crop_box_pads_grows_around_keypoints_and_clips():
    kpts = np.zeros((17, 3))
    kpts[:, 2] = 2
    kpts[:, 0] = np.linspace(20, 60, 17)
    kpts[:, 1] = np.linspace(30, 90, 17)
    kpts[5] = [5, 50, 2]  # a wrist outside the box
    box = c2r.crop_box(kpts, [20, 30, 40, 60], 0.1, width=100, height=95)
    assert box == (5, 24, 64, 95)  # left grown to the wrist, bottom clipped
    # no box: the labelled keypoints' extent is padded
    assert c2r.crop_box(kpts, None, 0.0, 100, 100) == (5, 30, 61, 91)


def test_file_names_cannot_leave_the_output_folder():
    assert c2r.safe_stem('./a/b.jpg', 3) == 'a/b_3'
    for bad in ('../x.jpg', '/etc/x.jpg', 'a/../../x.jpg'):
        with pytest.raises(ValueError, match='leaves the output folder'):
            c2r.safe_stem(bad, 1)


def test_unreadable_annotation_file_is_named(tmp_path, tool):
    bad = tmp_path / 'bad.json'
    bad.write_text('{"images": []')
    proc = tool([TOOL, bad, tmp_path, tmp_path / 'out'])
    assert proc.returncode != 0
    assert 'bad.json: not a COCO-format keypoint file' in proc.stderr


def _with_orientation(canvas: np.ndarray, path, orientation: int) -> None:
    """Save BGR ``canvas`` as a JPEG whose EXIF says ``orientation``."""
    from PIL import Image
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(canvas[:, :, ::-1]).save(path, 'JPEG', quality=95,
                                             exif=exif.tobytes())


def test_oriented_sources_are_skipped_and_reported_never_cropped_wrong(
        coco_set, tmp_path, tool):
    """Annotations refer to the stored 500 x 600 pixels; the decoder turns
    an image tagged 'rotate 90' into 600 x 500 and one tagged 'rotate 180'
    upside down: cropping either at the annotated box cuts the wrong
    region."""
    ann_json, img_root, canvas, xyv = coco_set
    data = json.loads(ann_json.read_text())
    person = data['annotations'][0]
    for image_id, orientation in ((8, 6), (9, 3)):
        name = f'val/turned_{orientation}.jpg'
        _with_orientation(canvas, img_root / name, orientation)
        data['images'].append(dict(id=image_id, file_name=name, width=500,
                                   height=600))
        data['annotations'].append(dict(person, id=100 + image_id,
                                        image_id=image_id))
    ann_json.write_text(json.dumps(data))
    out = tmp_path / 'release'
    proc = tool([TOOL, ann_json, img_root, out])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout.splitlines()[-1][len('SUMMARY '):])
    assert summary == dict(crops=1, crowd=1, too_few_keypoints=1,
                           unknown_image=1, size_mismatch=1,
                           ambiguous_orientation=1)
    assert sorted(p.name for p in (out / 'images' / 'val').iterdir()) == [
        'scene_11.jpg']
    assert ('turned_6.jpg: decoded 600x500 (EXIF orientation 6) but the '
            'annotation says 500x600') in proc.stdout
    assert 'turned_3.jpg: EXIF orientation 3' in proc.stdout


def test_undecodable_source_and_leftover_temp_files(coco_set, tmp_path,
                                                    tool, monkeypatch):
    ann_json, img_root, canvas, xyv = coco_set
    # a PNG header claiming 100000 x 100000 pixels: cv2 raises
    png = (img_root / 'val' / 'scene.png').read_bytes()
    ihdr = bytearray(png[:33])
    ihdr[16:24] = (100000).to_bytes(4, 'big') * 2
    ihdr[29:33] = zlib.crc32(bytes(ihdr[12:29])).to_bytes(4, 'big')
    (img_root / 'val' / 'scene.png').write_bytes(bytes(ihdr) + png[33:])
    out = tmp_path / 'release'
    # a run killed between writing a crop and moving it into place
    target = out / 'images' / 'val' / 'scene_11.jpg'

    def killed_replace(src, dst):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(os, 'replace', killed_replace)
        with pytest.raises(KeyboardInterrupt):
            c2r.save_atomic_bytes(str(target), b'partial')
    [leftover] = target.parent.iterdir()
    assert leftover.name.startswith('.')  # never taken for a crop
    proc = tool([TOOL, ann_json, img_root, out])
    assert proc.returncode == 1, proc.stdout + proc.stderr  # no crop at all
    assert 'Traceback' not in proc.stderr
    summary = json.loads(proc.stdout.splitlines()[-1][len('SUMMARY '):])
    assert summary['unreadable_image'] == 1
    assert 'scene.png: cannot decode' in proc.stdout
    assert list(target.parent.iterdir()) == []
