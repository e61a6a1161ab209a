"""Market-1501 / MSMT17 parsers on tiny trees in the real layouts, and the
identity-balanced sampler."""
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from hap_mm.datasets import MSMT17, IdentityBalancedSampler, Market1501
from hap_mm.datasets.samplers import identity_balanced_sampler

CROPS = sorted((Path(__file__).parent / 'data' / 'reid').glob('*.jpg'))
EVAL_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs', meta_keys=('img_path', 'pid', 'camid',
                                       'is_query')),
]


def _put(path: Path, index: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(CROPS[index % len(CROPS)], path)


@pytest.fixture
def market(tmp_path) -> Path:
    root = tmp_path / 'Market-1501-v15.09.15'
    names = {
        'bounding_box_train': [
            '0002_c1s1_000451_03.jpg', '0002_c2s1_000551_01.jpg',
            '0007_c1s6_028546_01.jpg', '0007_c3s3_064744_04.jpg',
            '0015_c2s1_001046_02.jpg', '-1_c1s1_000401_03.jpg'
        ],
        'query': ['0001_c1s1_001051_00.jpg', '0005_c2s1_000976_00.jpg'],
        'bounding_box_test': [
            '-1_c1s1_000401_03.jpg', '0000_c1s1_000151_01.jpg',
            '0001_c1s1_001051_03.jpg', '0001_c2s1_000301_01.jpg',
            '0005_c3s1_000776_02.jpg'
        ],
    }
    for i, (folder, files) in enumerate(
            (f, n) for f, ns in names.items() for n in ns):
        _put(root / folder / files, i)
    (root / 'bounding_box_train' / 'Thumbs.db').write_bytes(b'\0')
    return root


def test_market_train_drops_junk_and_relabels_pids(market):
    ds = Market1501(str(market))
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert len(ds) == 5  # the -1 image and Thumbs.db are not samples
    assert ds.metainfo['classes'] == ('2', '7', '15')
    assert [(i['pid'], i['gt_label'], i['camid']) for i in infos] == [
        (2, 0, 0), (2, 0, 1), (7, 1, 0), (7, 1, 2), (15, 2, 1)
    ]
    assert all(Path(i['img_path']).is_file() for i in infos)
    assert ds.get_pids() == [2, 2, 7, 7, 15]


def test_market_test_mode_is_query_then_gallery_with_distractors(market):
    ds = Market1501(str(market), test_mode=True, pipeline=EVAL_PIPELINE)
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [(i['pid'], i['camid'], i['is_query']) for i in infos] == [
        (1, 0, True), (5, 1, True),  # query/
        (0, 0, False), (1, 0, False), (1, 1, False), (5, 2, False)
    ]
    assert 'gt_label' not in infos[0]
    sample = ds[0]['data_samples']
    assert (sample.pid, sample.camid, sample.is_query) == (1, 0, True)
    assert tuple(ds[0]['inputs'].shape) == (3, 128, 64)


def test_market_bad_file_name_is_named(market):
    (market / 'query' / 'c1_0001.jpg').write_bytes(b'')
    with pytest.raises(ValueError, match='c1_0001.jpg'):
        Market1501(str(market), test_mode=True)


def test_market_missing_folder_is_named(market):
    shutil.rmtree(market / 'bounding_box_test')
    with pytest.raises(FileNotFoundError, match='bounding_box_test'):
        Market1501(str(market), test_mode=True)


def _msmt(root: Path, train_dir: str, test_dir: str) -> Path:
    lists = {
        'list_train.txt': (train_dir, [('0000/0000_000_01_0303morning_0015_0'
                                        '.jpg', 0),
                                       ('0000/0000_001_05_0303noon_0100_1.jpg',
                                        0),
                                       ('0003/0003_000_02_0303morning_0500_0'
                                        '.jpg', 3)]),
        'list_val.txt': (train_dir, [('0003/0003_004_07_0303afternoon_0010_'
                                      '2.jpg', 3)]),
        'list_query.txt': (test_dir, [('0010/0010_000_12_0113morning_0100_0'
                                       '.jpg', 10)]),
        'list_gallery.txt': (test_dir, [('0010/0010_003_15_0113noon_0010_1'
                                         '.jpg', 10),
                                        ('0011/0011_000_12_0113noon_0010_0'
                                         '.jpg', 11)]),
    }
    index = 0
    for list_name, (folder, entries) in lists.items():
        lines = []
        for rel, pid in entries:
            _put(root / folder / rel, index)
            index += 1
            lines.append(f'{rel} {pid}\n')
        (root / list_name).write_text(''.join(lines))
    return root


@pytest.mark.parametrize('train_dir,test_dir', [('train', 'test'),
                                                ('mask_train_v2',
                                                 'mask_test_v2')])
def test_msmt17_v1_and_v2_layouts(tmp_path, train_dir, test_dir):
    root = _msmt(tmp_path / 'MSMT17', train_dir, test_dir)
    train = MSMT17(str(root))
    infos = [train.get_data_info(i) for i in range(len(train))]
    # list_train.txt then list_val.txt; camera = third name field, 0-based
    assert [(i['pid'], i['gt_label'], i['camid']) for i in infos] == [
        (0, 0, 0), (0, 0, 4), (3, 1, 1), (3, 1, 6)
    ]
    assert all(f'/{train_dir}/' in i['img_path'] for i in infos)
    test = MSMT17(str(root), test_mode=True)
    infos = [test.get_data_info(i) for i in range(len(test))]
    assert [(i['pid'], i['camid'], i['is_query']) for i in infos] == [
        (10, 11, True), (10, 14, False), (11, 11, False)
    ]
    assert all(f'/{test_dir}/' in i['img_path'] for i in infos)


def test_msmt17_train_lists_can_leave_out_val(tmp_path):
    root = _msmt(tmp_path / 'MSMT17', 'train', 'test')
    assert len(MSMT17(str(root), train_lists=['list_train.txt'])) == 3


def test_msmt17_both_releases_need_an_explicit_version(tmp_path):
    root = _msmt(tmp_path / 'MSMT17', 'train', 'test')
    _msmt(root, 'mask_train_v2', 'mask_test_v2')
    with pytest.raises(FileNotFoundError, match='set version'):
        MSMT17(str(root))
    ds = MSMT17(str(root), version='v2')
    assert '/mask_train_v2/' in ds.get_data_info(0)['img_path']


def test_msmt17_bad_list_line_is_named(tmp_path):
    root = _msmt(tmp_path / 'MSMT17', 'train', 'test')
    with open(root / 'list_val.txt', 'a') as f:
        f.write('0003/broken.jpg\n')
    with pytest.raises(ValueError, match=r'list_val.txt:2'):
        MSMT17(str(root))


def test_msmt17_missing_list_is_named(tmp_path):
    root = _msmt(tmp_path / 'MSMT17', 'train', 'test')
    (root / 'list_query.txt').unlink()
    with pytest.raises(FileNotFoundError, match='list_query.txt'):
        MSMT17(str(root), test_mode=True)


class _Pids:
    """A dataset stand-in: 6 identities with 1, 2, 3, 4, 5 and 9 images."""

    def __init__(self):
        self.pids = [p for p, n in enumerate((1, 2, 3, 4, 5, 9)) for _ in
                     range(n)]

    def __len__(self):
        return len(self.pids)

    def get_pids(self):
        return self.pids


def _batches(sampler, epoch=0):
    sampler.set_epoch(epoch)
    indices = list(sampler)
    assert len(indices) == len(sampler)
    return np.array(indices).reshape(-1, sampler.batch_size)


def test_sampler_batches_are_p_identities_times_k_images():
    data = _Pids()
    sampler = IdentityBalancedSampler(
        data, batch_size=6, num_instances=2, seed=3)
    # chunks of 2: 1, 1, 1, 2, 2, 4 -> 11 chunks -> 3 batches of 3 ids
    batches = _batches(sampler)
    assert batches.shape == (3, 6)
    for batch in batches:
        counts = Counter(data.pids[i] for i in batch)
        # 3 distinct identities, 2 images each (the 1-image one repeated)
        assert len(counts) == 3 and set(counts.values()) == {2}
    assert np.array_equal(_batches(sampler), batches)
    assert not np.array_equal(_batches(sampler, epoch=1), batches)


def test_sampler_splits_batches_over_ranks(monkeypatch):
    data = _Pids()
    whole = _batches(
        IdentityBalancedSampler(data, batch_size=4, num_instances=2, seed=0))
    per_rank = []
    for rank in range(2):
        monkeypatch.setattr(identity_balanced_sampler, 'get_dist_info',
                            lambda rank=rank: (rank, 2))
        per_rank.append(
            _batches(
                IdentityBalancedSampler(
                    data, batch_size=4, num_instances=2, seed=0)))
    assert len(whole) == 5 and [len(b) for b in per_rank] == [2, 2]
    # of the epoch's 5 batches, 4 are dealt round-robin to the 2 ranks
    assert np.array_equal(per_rank[0], whole[[0, 2]])
    assert np.array_equal(per_rank[1], whole[[1, 3]])


def test_sampler_rejects_bad_batch_sizes():
    with pytest.raises(ValueError, match='multiple of num_instances'):
        IdentityBalancedSampler(_Pids(), batch_size=5, num_instances=2)
    with pytest.raises(ValueError, match='only 6'):
        IdentityBalancedSampler(_Pids(), batch_size=14, num_instances=2)
