"""tools/data/extract_keypoints.py: both backends end to end on real crops.

mediapipe runs on the repo's COCO demo crops (data/demo/images/coco) and is
scored against their COCO labels (data/demo/keypoints); mmpose runs a tiny
randomly initialised top-down ViT config written here (format, batching,
sharding, resume, corrupt images).
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hap_mm.datasets import LUPersonKeypointDataset
from hap_mm.datasets.keypoint_io import keypoints_from_object, safe_load_npy

REPO = Path(__file__).resolve().parents[1]
TOOL = 'tools/data/extract_keypoints.py'
# COCO index of each joint's mirror (left <-> right)
FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]

TINY_TOPDOWN = """
default_scope = 'mmpose'
codec = dict(type='UDPHeatmap', input_size=(48, 64), heatmap_size=(12, 16),
             sigma=2)
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(
        type='mmpretrain.VisionTransformer',
        arch=dict(embed_dims=64, num_layers=2, num_heads=2,
                  feedforward_channels=128),
        img_size=(64, 48), patch_size=16, qkv_bias=True,
        with_cls_token=False, out_type='featmap', patch_cfg=dict(padding=2)),
    head=dict(
        type='HeatmapHead', in_channels=64, out_channels=17,
        deconv_out_channels=(32, 32), deconv_kernel_sizes=(4, 4),
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec),
    test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=False))
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size'], use_udp=True),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(dataset=dict(type='CocoDataset'))
test_dataloader = dict(dataset=dict(type='CocoDataset', pipeline=test_pipeline))
"""


def _load_tool():
    spec = importlib.util.spec_from_file_location('extract_keypoints',
                                                  REPO / TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ek = _load_tool()


def _npy(path: Path) -> np.ndarray:
    return keypoints_from_object(safe_load_npy(path.read_bytes()))


def _summary(proc) -> dict:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith('SUMMARY ')]
    assert line, proc.stdout[-2000:]
    return json.loads(line[-1][len('SUMMARY '):])


def _jsonl(path: Path) -> dict:
    items = [json.loads(ln) for ln in path.read_text().splitlines()]
    return {item['img_path']: np.asarray(item['keypoints']) for item in items}


def _pck(pred: np.ndarray, gt: np.ndarray, hw, thr: float) -> tuple:
    """(hits, labelled joints): distance normalised by the crop's (w, h)."""
    h, w = hw
    labelled = gt[:, 2] > 0
    d = np.hypot((pred[labelled, 0] - gt[labelled, 0]) / w,
                 (pred[labelled, 1] - gt[labelled, 1]) / h)
    return int((d < thr).sum()), int(labelled.sum())


# ------------------------------------------------------------ mediapipe
def test_mediapipe_matches_coco_labels_on_demo_crops(tmp_path, demo_root, tool):
    import cv2
    out, index = tmp_path / 'kpts', tmp_path / 'index.jsonl'
    images = demo_root / 'images' / 'coco'
    summary = _summary(
        tool([TOOL, images, out, '--backend', 'mediapipe', '--workers', '1',
              '--jsonl', index, '--reference',
              demo_root / 'keypoints' / 'coco']))
    n = len(list(images.glob('*.jpg')))
    assert n >= 10 and summary['processed'] + summary['no_person'] == n
    assert summary['processed'] >= 0.75 * n, summary  # 10 of 12 when written
    hits = swapped = total = 0
    for img_path in sorted(images.glob('*.jpg')):
        pred_file = out / (img_path.stem + '.npy')
        if not pred_file.exists():
            continue
        pred = _npy(pred_file)
        gt = _npy(demo_root / 'keypoints' / 'coco' / (img_path.stem + '.npy'))
        hw = cv2.imread(str(img_path)).shape[:2]
        h, t = _pck(pred, gt, hw, 0.2)
        hits, total = hits + h, total + t
        swapped += _pck(pred[FLIP], gt, hw, 0.2)[0]
    pck = hits / total
    print(f'mediapipe PCK@0.2 {pck:.3f} on {summary["processed"]} crops '
          f'({total} joints), {summary["model_ms_per_image"]} ms/crop')
    assert pck >= 0.9
    assert summary['pck'] == pytest.approx(pck)  # the tool's own report
    assert summary['pck_joints'] == total
    # left/right mapping: mirroring the prediction must make it worse
    assert swapped / total < pck - 0.2
    # no-person crops: no file, listed in the log, absent from the index
    log = (out / 'extract_keypoints.log').read_text().splitlines()
    no_person = [ln.split('\t')[1] for ln in log if ln.startswith('no_person')]
    assert len(no_person) == summary['no_person']
    assert not any((out / p).with_suffix('.npy').exists() for p in no_person)
    assert set(_jsonl(index)) == {
        p.name for p in images.glob('*.jpg')} - set(no_person)


# --------------------------------------------------------------- mmpose
def _count(images: Path) -> int:
    return len(list(images.rglob('*.jpg')))


@pytest.fixture
def crops(tmp_path, demo_root) -> Path:
    """data/demo/images plus a corrupt and an empty image (in broken/)."""
    root = tmp_path / 'lup' / 'images'
    shutil.copytree(demo_root / 'images', root)
    (root / 'broken').mkdir()
    (root / 'broken' / 'corrupt.jpg').write_bytes(b'\xff\xd8 not a jpeg')
    (root / 'broken' / 'empty.png').write_bytes(b'')
    return root


@pytest.fixture
def pose_config(tmp_path) -> Path:
    path = tmp_path / 'tiny_topdown.py'
    path.write_text(TINY_TOPDOWN)
    return path


class _Done:
    """The fields of a finished Popen that ``_summary`` reads."""

    def __init__(self, proc, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = (proc.returncode, stdout,
                                                     stderr)


def _mmpose(tool, images, out, config, *extra, env=None):
    return tool([TOOL, images, out, '--backend', 'mmpose', '--pose-config',
                 config, '--device', 'cpu', '--batch-size', '8',
                 '--workers', '1', *extra], env=env)


def test_mmpose_writes_release_files_index_and_reports_bad_images(
        crops, pose_config, tool):
    out = crops.parent / 'keypoints'
    index = crops.parent / 'index.jsonl'
    n = _count(crops) - 1  # broken/corrupt.jpg is not a crop
    summary = _summary(_mmpose(tool, crops, out, pose_config, '--jsonl', index))
    assert summary['total'] == n + 2
    assert (summary['processed'], summary['failed'], summary['skipped']) == (
        n, 2, 0)
    assert summary['model_batches'] == -(-(n + 2) // 8)  # batches of 8
    assert summary['model_seconds_per_batch'] > 0
    log = (out / 'extract_keypoints.log').read_text()
    assert 'failed\tbroken/corrupt.jpg\t' in log
    assert 'failed\tbroken/empty.png\tempty file' in log
    # release layout: OUT/<rel>.npy holding [[{'keypoints': (17, 3)}]]
    rels = sorted(p.relative_to(crops) for p in crops.rglob('*.jpg')
                  if p.parent.name != 'broken')
    lines = _jsonl(index)
    assert sorted(lines) == [str(r) for r in rels]
    for rel in rels:
        obj = np.load(out / rel.with_suffix('.npy'), allow_pickle=True)
        kpts = obj[0][0]['keypoints']
        assert kpts.shape == (17, 3) and kpts.dtype == np.float32
        assert np.allclose(lines[str(rel)], kpts, atol=0.01)
        assert (kpts[:, 2] >= 0).all()
    # both the .npy tree and the JSONL index load in the dataset
    for ann_file in ('', 'index.jsonl'):
        ds = LUPersonKeypointDataset(
            data_root=str(crops.parent), ann_file=ann_file, strict=True)
        sample = ds[0]
        assert sample['keypoints'].shape == (1, 17, 2)
        assert not sample['data_issues']


def test_mmpose_two_shards_cover_every_image_once(crops, pose_config):
    shutil.rmtree(crops / 'broken')
    out, index = crops.parent / 'keypoints', crops.parent / 'index.jsonl'
    args = [sys.executable, TOOL, crops, out, '--backend', 'mmpose',
            '--pose-config', pose_config, '--device', 'cpu', '--batch-size',
            '8', '--workers', '0', '--jsonl', index]
    # both shards at once into the same tree; the second one takes its shard
    # from torchrun's environment instead of --shard
    runs = [
        subprocess.Popen([*map(str, args), '--shard', '0/2'], cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True),
        subprocess.Popen(list(map(str, args)), cwd=REPO,
                         env=dict(os.environ, RANK='1', WORLD_SIZE='2',
                                  LOCAL_RANK='1'),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True),
    ]
    first, second = (_summary(_Done(p, *p.communicate(timeout=300)))
                     for p in runs)
    assert (first['shard'], second['shard']) == ('0/2', '1/2')
    n = _count(crops)
    assert (first['total'], second['total']) == ((n + 1) // 2, n // 2)
    part0 = _jsonl(Path(f'{index}.shard-0-of-2'))
    part1 = _jsonl(Path(f'{index}.shard-1-of-2'))
    every = {str(p.relative_to(crops)) for p in crops.rglob('*.jpg')}
    assert not set(part0) & set(part1)
    assert set(part0) | set(part1) == every
    assert len(list(out.rglob('*.npy'))) == n
    assert (out / 'extract_keypoints.log.shard-1-of-2').exists()


def test_mmpose_resume_skips_done_files_and_redoes_broken_ones(
        crops, pose_config, tool, corrupt_release_npy):
    shutil.rmtree(crops / 'broken')
    out = crops.parent / 'keypoints'
    n = _count(crops)
    assert _summary(_mmpose(tool, crops, out, pose_config))['processed'] == n
    files = sorted(out.rglob('*.npy'))
    corrupt, zeros, gone, shape = files[:4]
    corrupt.write_text('not a numpy file')
    np.save(zeros, np.zeros((17, 3), np.float32))
    gone.unlink()
    corrupt_release_npy(shape, 64)  # np.load would segfault in the worker
    untouched = {f: f.stat().st_mtime_ns for f in files[4:]}
    again = _summary(_mmpose(tool, crops, out, pose_config))
    assert (again['processed'], again['skipped']) == (4, n - 4)
    assert again['model_batches'] == 1  # only the batch holding the redos
    for f in (corrupt, zeros, gone, shape):
        assert _npy(f).shape == (17, 3) and (_npy(f)[:, 2] > 0).any()
    assert all(f.stat().st_mtime_ns == t for f, t in untouched.items())
    assert not list(out.rglob('*.tmp'))
    # replaced outputs are listed with the reason; a missing one is not
    redo = {ln.split('\t')[1]: ln.split('\t')[2] for ln in
            (out / 'extract_keypoints.log').read_text().splitlines()
            if ln.startswith('redo\t')}
    rel = {f: str(f.relative_to(out).with_suffix('.jpg')) for f in files[:4]}
    assert set(redo) == {rel[corrupt], rel[zeros], rel[shape]}
    assert 'pickled object array' in redo[rel[shape]]
    assert 'every keypoint score is zero' in redo[rel[zeros]]


def test_non_utf8_file_names_are_processed_and_logged(
        tmp_path, demo_root, pose_config, tool):
    """File names that are not UTF-8 (e.g. Latin-1 crawls) neither stop a
    batch nor every rerun: outputs use the same bytes, the log escapes
    them."""
    images = tmp_path / 'images'
    images.mkdir()
    good = sorted((demo_root / 'images' / 'coco').glob('*.jpg'))[:3]
    for src in good[:2]:
        shutil.copy(src, images / src.name)
    root = bytes(images)
    with open(root + b'/caf\xe9.jpg', 'wb') as f:  # Latin-1 'café'
        f.write(good[2].read_bytes())
    with open(root + b'/bad\xff.jpg', 'wb') as f:
        f.write(b'\xff\xd8 not a jpeg')
    out = tmp_path / 'out'
    s = _summary(_mmpose(tool, images, out, pose_config, '--jsonl',
                         tmp_path / 'index.jsonl'))
    assert (s['processed'], s['failed'], s['total']) == (3, 1, 4), s
    # the output has the image's bytes in its name; a rerun skips it
    output = os.fsdecode(bytes(out) + b'/caf\xe9.npy')
    assert ek.load_valid_keypoints(output) is not None
    log = (out / 'extract_keypoints.log').read_text(encoding='utf-8')
    assert 'failed\tbad\\udcff.jpg\t' in log
    index = _jsonl(tmp_path / 'index.jsonl')
    assert 'caf\udce9.jpg' in index  # the exact bytes, via surrogateescape


# ----------------------------------------------------------------- units
def test_overwrite_decodes_images_whose_output_is_valid(tmp_path, demo_root):
    import cv2
    rels = ['coco/000000000785_442619.jpg', 'mpii/004645041_3.jpg']
    out = tmp_path / 'out'
    ek.save_keypoints(ek.output_path(str(out), rels[0]),
                      np.ones((17, 3), np.float32))

    def prepare(img, path):
        return img.shape

    images = str(demo_root / 'images')
    resume = ek.CropDataset(images, rels, str(out), False, prepare)
    assert 'done' in resume[0] and 'inputs' in resume[1]
    redo = ek.CropDataset(images, rels, str(out), True, prepare)
    shape = cv2.imread(str(demo_root / 'images' / rels[0])).shape
    assert redo[0]['inputs'] == shape and redo[0]['hw'] == shape[:2]


def test_shard_argument_and_environment():
    assert ek.parse_shard('2/8', {}) == (2, 8)
    assert ek.parse_shard(None, {}) == (0, 1)
    assert ek.parse_shard(None, {'RANK': '3', 'WORLD_SIZE': '4'}) == (3, 4)
    assert ek.parse_shard('1/2', {'RANK': '3', 'WORLD_SIZE': '4'}) == (1, 2)
    for bad in ('8/8', '-1/2', 'a/b', '3'):
        with pytest.raises(ValueError, match='--shard'):
            ek.parse_shard(bad, {})
    assert ek.shard_suffix(0, 1) == ''
    assert ek.shard_suffix(1, 4) == '.shard-1-of-4'


def test_list_file_paths_are_relative_to_the_image_root(tmp_path):
    (tmp_path / 'images' / 'a').mkdir(parents=True)
    listing = tmp_path / 'list.txt'
    listing.write_text('a/2.jpg\n# comment\na/1.jpg\n\na/1.jpg\n')
    root, rels = ek.list_images(str(listing), str(tmp_path / 'images'))
    assert rels == ['a/1.jpg', 'a/2.jpg']
    listing.write_text('../escape.jpg\n')
    with pytest.raises(ValueError, match='outside the image root'):
        ek.list_images(str(listing), str(tmp_path / 'images'))
    with pytest.raises(FileNotFoundError):
        ek.list_images(str(tmp_path / 'nothing'))


def test_scores_outside_the_image_or_negative_become_zero():
    kpts = np.array([[5, 5, 0.9], [-1, 5, 0.9], [5, 20, 0.9], [5, 5, -0.2]] +
                    [[1, 1, 0.5]] * 13, np.float32)
    clean = ek.clean_scores(kpts, h=10, w=8)
    assert clean[:4, 2].tolist() == [pytest.approx(0.9), 0, 0, 0]
    assert np.array_equal(clean[:, :2], kpts[:, :2])


def test_saved_keypoints_are_release_format_and_validated(tmp_path):
    path = tmp_path / 'a' / 'b.npy'
    kpts = np.random.RandomState(0).rand(17, 3).astype(np.float32)
    ek.save_keypoints(str(path), kpts)
    assert os.listdir(path.parent) == ['b.npy']  # no temp file left
    assert np.array_equal(ek.load_valid_keypoints(str(path)), kpts)
    np.save(path, np.zeros((17, 3), np.float32))
    assert ek.load_valid_keypoints(str(path)) is None
    bad = kpts.copy()
    bad[0, 0] = np.nan
    ek.save_keypoints(str(path), bad)
    assert ek.load_valid_keypoints(str(path)) is None
    assert ek.load_valid_keypoints(str(tmp_path / 'missing.npy')) is None


def test_help_and_import_do_not_need_mediapipe(tool):
    proc = tool([TOOL, '--help'])
    assert proc.returncode == 0
    for option in ('--backend', '--jsonl', '--shard', '--overwrite', '--log',
                   '--pose-config', '--pose-checkpoint', '--batch-size'):
        assert option in proc.stdout
    assert 'mediapipe' not in ek.__dict__
