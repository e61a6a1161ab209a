import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from hap_mm.datasets import BadSampleError, LUPersonKeypointDataset
from hap_mm.datasets.keypoint_io import (
    UnsafePickleError,
    load_path_list,
    safe_load_npy,
)

PIPELINE = [
    dict(type='KeypointRandomResizedCrop', scale=(256, 128)),
    dict(type='KeypointRandomFlip', prob=0.5),
    dict(type='PartAwareMaskGenerator'),
    dict(
        type='PackInputs',
        meta_keys=['img_path', 'data_issues']),
]


def _images(root: Path):
    return sorted(p.relative_to(root / 'images')
                  for p in (root / 'images').rglob('*.jpg'))


def _kpt_path(root: Path, rel: Path) -> Path:
    return root / 'keypoints' / rel.with_suffix('.npy')


def test_scan_reads_release_layout_and_keypoints(demo_copy):
    ds = LUPersonKeypointDataset(str(demo_copy), pipeline=[])
    rels = _images(demo_copy)
    assert len(ds) == len(rels) >= 10
    item = ds[0]
    rel = Path(os.path.relpath(item['img_path'], demo_copy / 'images'))
    release = np.load(_kpt_path(demo_copy, rel), allow_pickle=True)
    expected = np.asarray(release[0][0]['keypoints'], np.float32)
    np.testing.assert_allclose(item['keypoints'][0], expected[:, :2])
    np.testing.assert_allclose(item['keypoints_visible'][0], expected[:, 2])
    assert item['img'].ndim == 3 and item['data_issues'] == []


def test_plain_array_keypoint_files_are_read(demo_copy):
    rel = _images(demo_copy)[0]
    kpath = _kpt_path(demo_copy, rel)
    arr = np.asarray(
        np.load(kpath, allow_pickle=True)[0][0]['keypoints'], np.float32)
    np.save(kpath, arr)  # plain (17, 3)
    ds = LUPersonKeypointDataset(str(demo_copy), pipeline=[])
    idx = [Path(d['img_path']).name for d in ds.load_data_list()].index(
        rel.name)
    np.testing.assert_allclose(ds[idx]['keypoints'][0], arr[:, :2])


def test_cfs_pickle_list_selects_images(demo_copy):
    rels = [str(r) for r in _images(demo_copy)[::2]]
    with open(demo_copy / 'CFS_list.pkl', 'wb') as f:
        pickle.dump(rels, f)
    ds = LUPersonKeypointDataset(
        str(demo_copy), ann_file='CFS_list.pkl', pipeline=[])
    assert len(ds) == len(rels)
    assert ds.get_data_info(1)['img_path'].endswith(rels[1])


def test_jsonl_index_with_inline_keypoints(demo_copy):
    rels = _images(demo_copy)[:3]
    lines = []
    for i, rel in enumerate(rels):
        kpts = [[float(i), 2.0, 0.9]] * 17
        lines.append(json.dumps(dict(img_path=str(rel), keypoints=kpts)))
    (demo_copy / 'index.jsonl').write_text('\n'.join(lines) + '\n')
    ds = LUPersonKeypointDataset(
        str(demo_copy), ann_file='index.jsonl', pipeline=[])
    assert len(ds) == 3
    assert ds[2]['keypoints'][0, 0].tolist() == [2.0, 2.0]
    assert ds[2]['keypoints_visible'][0, 0] == pytest.approx(0.9)


def test_bad_jsonl_line_names_file_and_line(demo_copy):
    (demo_copy / 'bad.jsonl').write_text('{"img_path": "a.jpg"}\n')
    with pytest.raises(ValueError, match=r'bad\.jsonl:1'):
        LUPersonKeypointDataset(
            str(demo_copy), ann_file='bad.jsonl', pipeline=[])


def test_bad_files_are_counted_with_paths_and_never_stop_the_epoch(
        demo_copy, salt_tree):
    bad = salt_tree(demo_copy)
    ds = LUPersonKeypointDataset(str(demo_copy), pipeline=PIPELINE)
    issues = {}
    np.random.seed(0)
    for i in range(len(ds)):
        out = ds[i]
        assert out['inputs'].shape == (3, 256, 128)
        assert out['data_samples'].mask.shape == (2, 16, 8)
        for kind, path, msg in out['data_samples'].metainfo['data_issues']:
            issues[path] = msg
    expect = {
        'truncated': 'truncated',
        'empty': 'empty',
        'missing': 'missing',
        'nan': 'NaN',
        'shape': 'shape',
        'text': 'unreadable',
        'zero': 'zero',
    }
    for key, word in expect.items():
        folder = 'images' if key in ('truncated', 'empty') else 'keypoints'
        rel = bad[key] if folder == 'images' else bad[key].with_suffix('.npy')
        path = f'{folder}/{rel}'
        assert path in issues, (key, issues)
        assert word in issues[path], (key, issues[path])


@pytest.mark.parametrize('key', ['empty', 'text'])
def test_strict_mode_stops_at_the_bad_file_and_names_it(
        demo_copy, salt_tree, key):
    bad = salt_tree(demo_copy)
    ds = LUPersonKeypointDataset(
        str(demo_copy), pipeline=PIPELINE, strict=True)
    names = [Path(d['img_path']).name for d in ds.load_data_list()]
    with pytest.raises(BadSampleError, match=bad[key].stem):
        ds[names.index(bad[key].name)]


def test_missing_image_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='images'):
        LUPersonKeypointDataset(str(tmp_path))


def test_pickled_code_in_keypoint_or_list_files_is_refused(tmp_path):

    class Evil:

        def __reduce__(self):
            return (os.system, ('echo pwned',))

    payload = pickle.dumps([Evil()])
    with pytest.raises(UnsafePickleError, match='posix.system|os.system'):
        load_path_list(payload)
    path = tmp_path / 'evil.npy'
    np.save(path, np.array([Evil()], dtype=object), allow_pickle=True)
    with pytest.raises(UnsafePickleError):
        safe_load_npy(path.read_bytes())
