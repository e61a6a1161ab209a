"""CUHK-PEDES / ICFG-PEDES / RSTPReid readers on tiny trees in the public
JSON layouts."""
import json
from pathlib import Path

import numpy as np
import pytest
from mmengine.registry import DefaultScope
from PIL import Image

from hap_mm.datasets import CUHKPEDES, ICFGPEDES, RSTPReid

CROPS = sorted((Path(__file__).parent / 'data' / 'reid').glob('*.jpg'))

PIPELINE = [dict(type='LoadImageFromFile'),
            dict(type='PackInputs', meta_keys=('img_path', 'caption'))]


@pytest.mark.parametrize('cls,splits', [
    (CUHKPEDES, {'train': 8, 'val': 4, 'test': 6}),
    (ICFGPEDES, {'train': 4, 'test': 3}),
    (RSTPReid, {'train': 8, 'val': 4, 'test': 6}),
])
def test_reader_on_public_layout(tmp_path, text_reid_tree, cls, splits):
    root = text_reid_tree(cls.__name__, tmp_path / cls.__name__)
    entries = json.loads((root / cls.ANN_FILE).read_text())
    key = 'img_path' if cls is RSTPReid else 'file_path'
    for split, num in splits.items():
        ds = cls(data_root=str(root), split=split)
        assert len(ds) == num
        assert ds.test_mode == (split != 'train')
        mine = [e for e in entries if e['split'] == split]
        expected = [(str(root / 'imgs' / e[key]), c, e['id'])
                    for e in mine for c in e['captions']]
        got = [(ds.get_data_info(i)['img_path'],
                ds.get_data_info(i)['caption'], ds.get_data_info(i)['pid'])
               for i in range(len(ds))]
        assert got == expected
        pids = sorted({e['id'] for e in mine})
        assert ds.metainfo['classes'] == tuple(map(str, pids))
        for i in range(len(ds)):
            info = ds.get_data_info(i)
            assert info['gt_label'] == pids.index(info['pid'])
    if 'val' not in splits:
        with pytest.raises(ValueError, match='split must be one of'):
            cls(data_root=str(root), split='val')


def test_pipeline_loads_the_listed_image(tmp_path, text_reid_tree):
    root = text_reid_tree('RSTPReid', tmp_path)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        ds = RSTPReid(data_root=str(root), split='test', pipeline=PIPELINE)
        out = ds[0]
    # The first test image is image 6 of the tree, a copy of crop 6.
    crop = np.asarray(Image.open(CROPS[6]))
    assert tuple(out['inputs'].shape[1:]) == crop.shape[:2]
    assert out['data_samples'].caption == ds.get_data_info(0)['caption']


def test_ann_file_override_and_errors(tmp_path, text_reid_tree):
    root = text_reid_tree('CUHKPEDES', tmp_path / 'c')
    moved = tmp_path / 'other.json'
    (root / 'reid_raw.json').rename(moved)
    with pytest.raises(FileNotFoundError, match='reid_raw.json'):
        CUHKPEDES(data_root=str(root))
    assert len(CUHKPEDES(data_root=str(root), ann_file=str(moved))) == 8
    entries = json.loads(moved.read_text())
    del entries[3]['id']
    moved.write_text(json.dumps(entries))
    with pytest.raises(KeyError, match=r"entry 3 .*\['id'\]"):
        CUHKPEDES(data_root=str(root), ann_file=str(moved))
