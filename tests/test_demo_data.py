"""The shipped demo data is well formed, and its builder is exact."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def _pairs(root: Path):
    images = sorted((root / 'images').rglob('*.jpg'))
    kpts = sorted((root / 'keypoints').rglob('*.npy'))
    return images, kpts


def test_every_image_decodes_and_has_its_keypoint_file(demo_root):
    images, kpts = _pairs(demo_root)
    assert len(images) >= 20
    rel_img = {p.relative_to(demo_root / 'images').with_suffix('')
               for p in images}
    rel_kpt = {p.relative_to(demo_root / 'keypoints').with_suffix('')
               for p in kpts}
    assert rel_img == rel_kpt
    for path in images:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            assert im.convert('RGB').size[0] >= 32


def test_keypoints_are_release_format_finite_and_inside_the_crop(demo_root):
    images, _ = _pairs(demo_root)
    rich = 0
    for path in images:
        rel = path.relative_to(demo_root / 'images').with_suffix('.npy')
        obj = np.load(demo_root / 'keypoints' / rel, allow_pickle=True)
        kpts = np.asarray(obj[0][0]['keypoints'])
        assert kpts.shape == (17, 3)
        assert np.isfinite(kpts).all()
        assert ((kpts[:, 2] >= 0) & (kpts[:, 2] <= 1)).all()
        w, h = Image.open(path).size
        vis = kpts[kpts[:, 2] > 0]
        assert ((vis[:, 0] >= 0) & (vis[:, 0] < w) & (vis[:, 1] >= 0)
                & (vis[:, 1] < h)).all(), path
        rich += int((kpts[:, 2] > 0).sum() >= 8)
    assert rich >= 10


def test_demo_data_is_small_and_attributed(demo_root):
    size = sum(p.stat().st_size for p in demo_root.rglob('*') if p.is_file())
    assert size < 5e6
    text = (demo_root / 'ATTRIBUTION.md').read_text()
    assert 'Apache' in text and 'build_demo_data.py' in text


def _fixture(src: Path):
    """A one-image COCO-format fixture, as the builder's --src expects."""
    (src / 'coco').mkdir(parents=True)
    rng = np.random.RandomState(0)
    Image.fromarray(rng.randint(0, 255, (200, 160, 3), np.uint8)).save(
        src / 'coco' / 'img.jpg')
    kpts = np.zeros((17, 3))
    kpts[5:17] = np.c_[rng.uniform(50, 110, 12), rng.uniform(40, 170, 12),
                       np.full(12, 2)]
    kpts[6, 2] = 1  # occluded
    ann = dict(
        images=[dict(id=1, file_name='img.jpg', width=160, height=200)],
        annotations=[
            dict(id=7, image_id=1, bbox=[40, 30, 80, 150],
                 keypoints=kpts.ravel().tolist())
        ],
        categories=[dict(id=1, name='person')])
    (src / 'coco' / 'test_coco.json').write_text(json.dumps(ann))
    for name in ('aic/test_aic.json', 'crowdpose/test_crowdpose.json'):
        (src / name).parent.mkdir()
        (src / name).write_text(
            json.dumps(dict(images=[], annotations=[], categories=[])))
    (src / 'mpii').mkdir()
    (src / 'mpii' / 'test_mpii.json').write_text('[]')
    return kpts


def test_builder_shifts_keypoints_by_the_crop_and_refuses_to_overwrite(
        tmp_path, repo_root):
    kpts = _fixture(tmp_path / 'src')
    out = tmp_path / 'out'
    cmd = [
        sys.executable, 'tools/data/build_demo_data.py', '--src',
        str(tmp_path / 'src'), '--out',
        str(out), '--pad', '0.1'
    ]
    proc = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    crop = Image.open(out / 'images' / 'coco' / 'img_7.jpg')
    # box 40..120 x 30..180 padded by 10% -> left 32, top 15
    left, top = 32, 15
    got = np.load(out / 'keypoints' / 'coco' / 'img_7.npy',
                  allow_pickle=True)[0][0]['keypoints']
    np.testing.assert_allclose(got[5:, 0], kpts[5:, 0] - left, atol=1e-3)
    np.testing.assert_allclose(got[5:, 1], kpts[5:, 1] - top, atol=1e-3)
    assert got[6, 2] == 0.5 and got[5, 2] == 1.0 and (got[:5] == 0).all()
    assert crop.size == (128 - 32, 195 - 15)  # right 40 + 1.1 * 80 = 128
    before = (out / 'keypoints' / 'coco' / 'img_7.npy').read_bytes()
    again = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True)
    assert again.returncode != 0 and '--force' in again.stderr
    assert (out / 'keypoints' / 'coco' / 'img_7.npy').read_bytes() == before
