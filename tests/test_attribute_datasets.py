"""PA-100K (annotation.mat) and PETA / RAP (dataset.pkl) parsers on tiny
files written in the real formats."""
import pickle
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from hap_mm.datasets import PA100K, PETA, RAP

CROPS = sorted((Path(__file__).parent / 'data' / 'reid').glob('*.jpg'))
PIPELINE = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
ATTRS = ['Female', 'AgeOver60', 'Hat']


def _cells(strings):
    """A MATLAB (K, 1) cell array of char arrays, as in annotation.mat."""
    cells = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        cells[i, 0] = s
    return cells


@pytest.fixture
def pa100k(tmp_path) -> Path:
    root = tmp_path / 'PA-100K'
    (root / 'data').mkdir(parents=True)
    names = [f'{i:06d}.jpg' for i in range(1, 7)]
    for i, name in enumerate(names):
        shutil.copy(CROPS[i], root / 'data' / name)
    labels = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 0], [0, 1, 1],
                       [1, 0, 0], [0, 0, 1]], dtype=np.uint8)
    scipy.io.savemat(
        root / 'annotation.mat', {
            'attributes': _cells(ATTRS),
            'train_images_name': _cells(names[:3]),
            'train_label': labels[:3],
            'val_images_name': _cells(names[3:4]),
            'val_label': labels[3:4],
            'test_images_name': _cells(names[4:]),
            'test_label': labels[4:],
        })
    return root


def test_pa100k_splits_and_labels(pa100k):
    train = PA100K(str(pa100k), split='train', pipeline=PIPELINE)
    assert len(train) == 3 and train.metainfo['classes'] == tuple(ATTRS)
    np.testing.assert_array_equal(train.get_label_matrix(),
                                  [[1, 0, 1], [0, 0, 0], [1, 1, 0]])
    info = train.get_data_info(0)
    assert info['img_path'] == str(pa100k / 'data' / '000001.jpg')
    assert info['gt_score'].dtype == np.float32
    sample = train[2]['data_samples']
    assert sample.gt_score.tolist() == [1.0, 1.0, 0.0]
    trainval = PA100K(str(pa100k), split='trainval')
    assert [Path(trainval.get_data_info(i)['img_path']).name
            for i in range(len(trainval))] == [
                '000001.jpg', '000002.jpg', '000003.jpg', '000004.jpg'
            ]
    assert len(PA100K(str(pa100k), split='test', test_mode=True)) == 2


def test_pa100k_missing_key_is_named(pa100k):
    mat = scipy.io.loadmat(pa100k / 'annotation.mat')
    del mat['test_label']
    scipy.io.savemat(pa100k / 'annotation.mat',
                     {k: v for k, v in mat.items() if not k.startswith('_')})
    with pytest.raises(KeyError, match=r"annotation.mat has no \['test_label"):
        PA100K(str(pa100k), split='test')


def test_pa100k_unreadable_file_is_named(pa100k):
    (pa100k / 'annotation.mat').write_text('not matlab')
    with pytest.raises(ValueError, match='annotation.mat'):
        PA100K(str(pa100k))


def test_pa100k_label_shape_mismatch_is_named(pa100k):
    mat = scipy.io.loadmat(pa100k / 'annotation.mat')
    mat['train_label'] = mat['train_label'][:, :2]
    scipy.io.savemat(pa100k / 'annotation.mat',
                     {k: v for k, v in mat.items() if not k.startswith('_')})
    with pytest.raises(ValueError, match="split 'train' has 3 images"):
        PA100K(str(pa100k))


def test_pa100k_unknown_split():
    with pytest.raises(ValueError, match='split must be one of'):
        PA100K('unused', split='training')


class EasyDict(dict):
    """What ``easydict.EasyDict`` does: items are also attributes."""

    def __init__(self, d=None):
        super().__init__()
        for k, v in (d or {}).items():
            setattr(self, k, v)

    def __setattr__(self, name, value):
        if isinstance(value, dict) and not isinstance(value, EasyDict):
            value = EasyDict(value)
        super().__setattr__(name, value)
        super().__setitem__(name, value)

    __setitem__ = __setattr__


EasyDict.__module__ = 'easydict'


def _write_dataset_pkl(path: Path, monkeypatch, **changes) -> None:
    """A dataset.pkl as the PAR preprocessing scripts write it: an
    easydict.EasyDict pickled with NumPy arrays. ``easydict`` exists only
    while pickling, so reading must not need it."""
    names = [f'{i:05d}.png' for i in range(1, 7)]
    labels = np.array([[1, 0, 1, 1], [0, 0, 0, 1], [1, 1, 0, 0],
                       [0, 1, 1, 0], [1, 0, 0, 1], [0, 0, 1, 1]])
    info = EasyDict()
    info.description = 'peta'
    info.root = '/somewhere/else/images'
    info.image_name = names
    info.label = labels
    info.attr_name = ATTRS + ['upperBodyBlack']
    info.label_idx = EasyDict()
    info.label_idx.eval = [0, 1, 2]
    info.label_idx.color = [3]
    info.partition = EasyDict()
    info.partition.trainval = [np.array([0, 1, 2, 3]), np.array([2, 3, 4, 5])]
    info.partition.test = [np.array([4, 5]), np.array([0, 1])]
    for key, value in changes.items():
        if value is None:
            del info[key]
        else:
            info[key] = value
    monkeypatch.setitem(sys.modules, 'easydict',
                        types.SimpleNamespace(EasyDict=EasyDict))
    with open(path, 'wb') as f:
        pickle.dump(info, f)
    monkeypatch.delitem(sys.modules, 'easydict')


@pytest.fixture
def peta(tmp_path, monkeypatch) -> Path:
    root = tmp_path / 'PETA'
    (root / 'images').mkdir(parents=True)
    for i in range(6):
        shutil.copy(CROPS[i], root / 'images' / f'{i + 1:05d}.png')
    _write_dataset_pkl(root / 'dataset.pkl', monkeypatch)
    return root


def test_peta_pickle_partition_and_eval_attributes(peta):
    ds = PETA(str(peta), split='trainval', pipeline=PIPELINE)
    assert ds.metainfo['classes'] == tuple(ATTRS)  # label_idx.eval
    assert len(ds) == 4
    np.testing.assert_array_equal(
        ds.get_label_matrix(), [[1, 0, 1], [0, 0, 0], [1, 1, 0], [0, 1, 1]])
    assert ds.get_data_info(0)['img_path'] == str(peta / 'images' /
                                                  '00001.png')
    assert ds[0]['data_samples'].gt_score.tolist() == [1.0, 0.0, 1.0]
    second = PETA(str(peta), split='test', partition_index=1, attributes=None)
    assert [Path(second.get_data_info(i)['img_path']).name
            for i in range(2)] == ['00001.png', '00002.png']
    assert len(second.metainfo['classes']) == 4


def test_peta_explicit_attribute_columns(peta):
    ds = PETA(str(peta), split='test', attributes=[3, 0])
    assert ds.metainfo['classes'] == ('upperBodyBlack', 'Female')
    np.testing.assert_array_equal(ds.get_label_matrix(), [[1, 1], [1, 0]])


def test_missing_pickle_key_is_named(tmp_path, monkeypatch):
    _write_dataset_pkl(tmp_path / 'dataset.pkl', monkeypatch, partition=None)
    with pytest.raises(KeyError, match="dataset.pkl: no 'partition'"):
        PETA(str(tmp_path))


def test_missing_partition_split_is_named(peta):
    with pytest.raises(KeyError, match="no partition 'val'"):
        PETA(str(peta), split='val')


def test_pickle_with_code_is_refused(tmp_path):
    class Evil:

        def __reduce__(self):
            return (print, ('pwned', ))

    (tmp_path / 'dataset.pkl').write_bytes(pickle.dumps({'x': Evil()}))
    with pytest.raises(ValueError, match='refusing to unpickle builtins.print'):
        PETA(str(tmp_path))


def test_rap_reads_the_same_format_from_rap_dataset(tmp_path, monkeypatch):
    _write_dataset_pkl(tmp_path / 'dataset.pkl', monkeypatch)
    ds = RAP(str(tmp_path), split='test')
    assert ds.get_data_info(0)['img_path'] == str(tmp_path / 'RAP_dataset' /
                                                  '00005.png')


def test_missing_annotation_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='dataset.pkl'):
        RAP(str(tmp_path))


def test_uncertain_label_2_reads_as_0(tmp_path, monkeypatch):
    # RELEASE_DOWNSTREAM.md 2.2: the release maps label value 2 to 0
    labels = np.array([[1, 2, 1, 1], [0, 0, 0, 2], [2, 1, 0, 0],
                       [0, 1, 1, 0], [1, 0, 0, 1], [0, 0, 1, 1]])
    _write_dataset_pkl(tmp_path / 'dataset.pkl', monkeypatch, label=labels)
    ds = PETA(str(tmp_path), split='trainval', attributes=None)
    np.testing.assert_array_equal(
        ds.get_label_matrix(),
        [[1, 0, 1, 1], [0, 0, 0, 0], [0, 1, 0, 0], [0, 1, 1, 0]])
