"""The shipped demo data is well formed, and its builder is exact."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / 'data' / 'demo'
BUILDER = REPO / 'tools' / 'data' / 'build_demo_data.py'


def _release_keypoints(path: Path) -> np.ndarray:
    return np.asarray(np.load(path, allow_pickle=True)[0][0]['keypoints'])


def _tree(root: Path) -> dict:
    return {p.relative_to(root): p.read_bytes()
            for p in sorted(root.rglob('*')) if p.is_file()}


def test_every_image_decodes_and_mirrors_a_keypoint_file():
    images = sorted((DEMO / 'images').rglob('*.jpg'))
    kpts = sorted((DEMO / 'keypoints').rglob('*.npy'))
    assert len(images) >= 10
    assert ({p.relative_to(DEMO / 'images').with_suffix('') for p in images}
            == {p.relative_to(DEMO / 'keypoints').with_suffix('')
                for p in kpts})
    for path in images:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            im.load()
            assert min(im.size) >= 32, path


def test_keypoints_are_release_format_finite_and_inside_the_crop():
    rich = 0
    for path in sorted((DEMO / 'images').rglob('*.jpg')):
        rel = path.relative_to(DEMO / 'images').with_suffix('.npy')
        kpts = _release_keypoints(DEMO / 'keypoints' / rel)
        assert kpts.shape == (17, 3), rel
        assert np.isfinite(kpts).all(), rel
        assert np.isin(kpts[:, 2], (0.0, 0.5, 1.0)).all(), rel
        assert (kpts[kpts[:, 2] == 0, :2] == 0).all(), rel
        with Image.open(path) as im:
            w, h = im.size
        x, y = kpts[kpts[:, 2] > 0, :2].T
        assert ((x >= 0) & (x < w) & (y >= 0) & (y < h)).all(), rel
        rich += int((kpts[:, 2] > 0).sum() >= 8)
    assert rich >= 10


def test_demo_data_is_small_and_attributed():
    size = sum(p.stat().st_size for p in DEMO.rglob('*') if p.is_file())
    assert size < 5e6
    text = (DEMO / 'ATTRIBUTION.md').read_text()
    assert 'Apache' in text and 'build_demo_data.py' in text


def _fixture(src: Path) -> np.ndarray:
    """A one-image COCO-format fixture (persons 7 and 8), empty others."""
    (src / 'coco').mkdir(parents=True)
    rng = np.random.RandomState(0)
    Image.fromarray(rng.randint(0, 255, (200, 160, 3), np.uint8)).save(
        src / 'coco' / 'img.jpg')
    kpts = np.zeros((17, 3))
    kpts[5:17] = np.c_[rng.uniform(50, 110, 12), rng.uniform(40, 170, 12),
                       np.full(12, 2)]
    kpts[6, 2] = 1  # occluded
    grown = kpts.copy()
    grown[0] = 20, 10, 2  # outside the padded box: the crop grows
    grown[1] = 170, 50, 2  # outside the image: dropped
    anns = [dict(id=i, image_id=1, bbox=[40, 30, 80, 150],
                 keypoints=k.ravel().tolist())
            for i, k in ((7, kpts), (8, grown))]
    (src / 'coco' / 'test_coco.json').write_text(json.dumps(dict(
        images=[dict(id=1, file_name='img.jpg', width=160, height=200)],
        annotations=anns, categories=[dict(id=1, name='person')])))
    for name in ('aic/test_aic.json', 'crowdpose/test_crowdpose.json'):
        (src / name).parent.mkdir()
        (src / name).write_text(
            json.dumps(dict(images=[], annotations=[], categories=[])))
    (src / 'mpii').mkdir()
    (src / 'mpii' / 'test_mpii.json').write_text('[]')
    return kpts


def test_builder_shifts_keypoints_by_the_crop_and_refuses_to_overwrite(
        tmp_path):
    kpts = _fixture(tmp_path / 'src')
    out = tmp_path / 'out'
    cmd = [sys.executable, str(BUILDER), '--src', str(tmp_path / 'src'),
           '--out', str(out), '--pad', '0.1']
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr

    # box 40..120 x 30..180, 10% padding: (32, 15, 128, 195)
    got = _release_keypoints(out / 'keypoints' / 'coco' / 'img_7.npy')
    np.testing.assert_allclose(got[5:, :2], kpts[5:, :2] - (32, 15),
                               atol=1e-3)
    assert got[6, 2] == 0.5 and got[5, 2] == 1.0 and (got[:5] == 0).all()
    with Image.open(out / 'images' / 'coco' / 'img_7.jpg') as im:
        assert im.size == (128 - 32, 195 - 15)

    # grown to the nose at (20, 10), right edge clipped to the image (160)
    got = _release_keypoints(out / 'keypoints' / 'coco' / 'img_8.npy')
    np.testing.assert_allclose(got[5:, :2], kpts[5:, :2] - (20, 10),
                               atol=1e-3)
    assert (got[0] == (0, 0, 1)).all() and (got[1] == 0).all()
    with Image.open(out / 'images' / 'coco' / 'img_8.jpg') as im:
        assert im.size == (160 - 20, 195 - 10)

    before = _tree(out)
    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode != 0 and '--force' in again.stderr
    assert _tree(out) == before
    forced = subprocess.run(cmd + ['--force'], cwd=tmp_path,
                            capture_output=True, text=True)
    assert forced.returncode == 0, forced.stderr
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out', 'src']
