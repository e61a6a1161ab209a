import json
import logging
import os
import os.path as osp
import pickle
from pathlib import Path

import numpy as np
import pytest
from mmengine.logging import MMLogger

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


@pytest.mark.parametrize('line', [
    '{"img_path": "a.jpg"}', '{"img_path": 3, "keypoints": []}'])
def test_bad_jsonl_line_names_file_and_line(demo_copy, line):
    (demo_copy / 'bad.jsonl').write_text(line + '\n')
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


# ------------------------------------------------ selection (sample_ratio)
class _Lines(logging.Handler):
    """Collects the messages of the current MMLogger."""

    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def log_lines():
    handler = _Lines()
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


def test_cfs_list_keeps_its_first_entries_in_list_order(demo_copy,
                                                        log_lines):
    # the release's list holds every image, best CFS score first; the
    # release trains on the first int(0.5 x len) entries in that order
    rels = [str(r) for r in _images(demo_copy)][::-1]  # not sorted
    (demo_copy / 'CFS_list.pkl').write_bytes(pickle.dumps(rels))
    ds = LUPersonKeypointDataset(
        str(demo_copy), ann_file='CFS_list.pkl', sample_ratio=0.5,
        pipeline=[])
    n = len(rels) // 2
    assert len(ds) == n
    got = [os.path.relpath(ds.get_data_info(i)['img_path'],
                           demo_copy / 'images') for i in range(n)]
    assert got == rels[:n]
    assert (f'using {n} of {len(rels)} images (first half of CFS_list.pkl, '
            'CFS order)') in '\n'.join(log_lines)
    # an int > 1 is a count; 1.0 (or 1) is everything
    ds5 = LUPersonKeypointDataset(
        str(demo_copy), ann_file='CFS_list.pkl', sample_ratio=5, pipeline=[])
    assert [ds5.get_data_info(i)['img_path'] for i in range(5)] == [
        osp.join(demo_copy, 'images', r) for r in rels[:5]]
    for ratio in (1, 1.0):
        assert len(LUPersonKeypointDataset(
            str(demo_copy), ann_file='CFS_list.pkl', sample_ratio=ratio,
            pipeline=[])) == len(rels)


@pytest.mark.parametrize('ann', ['', 'index.jsonl'])
def test_scan_and_jsonl_select_at_random_the_same_way_every_time(
        demo_copy, ann):
    rels = [str(r) for r in _images(demo_copy)]
    (demo_copy / 'index.jsonl').write_text(''.join(
        json.dumps(dict(img_path=r, keypoints=[[1.0, 2.0, 0.9]] * 17)) + '\n'
        for r in rels))

    def chosen(**kw):
        ds = LUPersonKeypointDataset(
            str(demo_copy), ann_file=ann, pipeline=[], **kw)
        return [ds.get_data_info(i)['img_path'] for i in range(len(ds))]

    first = chosen(sample_ratio=0.5)
    assert len(first) == len(rels) // 2 == len(set(first))
    assert chosen(sample_ratio=0.5) == first  # every rank, every run
    assert set(first) <= {osp.join(demo_copy, 'images', r) for r in rels}
    # a scan in sorted order would pick the first half; this is random
    assert first != [osp.join(demo_copy, 'images', r)
                     for r in rels[:len(first)]]
    assert chosen(sample_ratio=0.5, sample_seed=1) != first
    assert len(chosen(sample_ratio=7)) == 7


@pytest.mark.parametrize('ratio', [0.0, -0.5, 1.5, 0, 1000, True, '0.5'])
def test_sample_ratio_out_of_range_is_refused(demo_copy, ratio):
    with pytest.raises((ValueError, TypeError), match='sample_ratio'):
        LUPersonKeypointDataset(
            str(demo_copy), sample_ratio=ratio, pipeline=[])


def test_hap_configs_train_on_the_first_half_of_the_cfs_list(repo_root):
    from mmengine.config import Config
    found = 0
    for path in sorted((repo_root / 'configs' / 'hap').rglob('*.py')):
        if '_base_' in path.parts:
            continue
        ds = Config.fromfile(str(path)).train_dataloader.dataset
        if ds.get('ann_file', '').endswith('CFS_list.pkl'):
            found += 1
            assert ds.get('sample_ratio') == 0.5, path
        elif path.name == 'hap_demo.py':  # all 27 demo crops
            assert ds.get('sample_ratio') == 1.0
    assert found >= 8


def test_index_is_compact_and_builds_paths_per_sample(tmp_path):
    # 100k LUPerson-like paths: the index must not hold a dict (or the
    # absolute image and keypoint paths) per image
    n = 100_000
    rels = [f'youtube_{i // 400:07d}/youtube_{i // 400:07d}_{i:06d}_0.jpg'
            for i in range(n)]
    (tmp_path / 'images').mkdir()
    (tmp_path / 'CFS_list.pkl').write_bytes(
        pickle.dumps(['./' + rels[0]] + rels[1:]))
    ds = LUPersonKeypointDataset(str(tmp_path), ann_file='CFS_list.pkl')
    assert len(ds) == n
    mean_len = sum(map(len, rels)) / n
    held = ds.data_bytes.nbytes + ds.data_address.nbytes
    assert held <= n * (mean_len + 1 + 8) + 64, held / n
    assert not ds.data_list
    for i in (0, 1, 4321, n - 1, -1):
        info = ds.get_data_info(i)
        rel = rels[i]
        assert info['img_path'] == osp.join(tmp_path, 'images', rel)
        assert info['kpt_path'] == osp.join(
            tmp_path, 'keypoints', rel[:-len('.jpg')] + '.npy')
        assert info['sample_idx'] == i % n
    sub = ds.get_subset([5, 2])
    assert len(sub) == 2
    assert sub.get_data_info(1)['img_path'].endswith(rels[2])


def test_jsonl_lines_with_wrong_shape_keypoints_are_named(demo_copy,
                                                         log_lines):
    rels = [str(r) for r in _images(demo_copy)]
    good = [[1.0, 2.0, 0.9]] * 17
    wrong = {3: [[1.0, 2.0, 0.9]] * 16, 5: [[1.0, 2.0]] * 17}
    wrong.update({k: [[1.0, 2.0, 0.9, 0.1]] * 17 for k in range(8, 18)})
    lines = [json.dumps(dict(img_path=r, keypoints=wrong.get(i + 1, good)))
             for i, r in enumerate(rels)]
    (demo_copy / 'index.jsonl').write_text('\n'.join(lines) + '\n')
    ds = LUPersonKeypointDataset(
        str(demo_copy), ann_file='index.jsonl', pipeline=[])
    assert len(ds) == len(rels) - len(wrong)
    text = '\n'.join(log_lines)
    assert f'{len(wrong)} of {len(rels)} lines' in text
    shown = sorted(wrong)[:10]
    for lineno in shown:
        assert f'line {lineno}: {rels[lineno - 1]}' in text
    for lineno in sorted(wrong)[10:]:
        assert f'line {lineno}:' not in text
    for i in range(len(ds)):
        assert ds[i]['data_issues'] == []
    with pytest.raises(BadSampleError, match=f'line 3: {rels[2]}'):
        LUPersonKeypointDataset(
            str(demo_copy), ann_file='index.jsonl', strict=True)


def test_list_path_with_a_nul_character_is_refused(tmp_path):
    (tmp_path / 'images').mkdir()
    (tmp_path / 'list.pkl').write_bytes(pickle.dumps(['a.jpg', 'b\0c.jpg']))
    with pytest.raises(ValueError, match='NUL'):
        LUPersonKeypointDataset(str(tmp_path), ann_file='list.pkl')
