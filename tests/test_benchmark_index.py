"""tools/analysis/benchmark_index.py: its synthetic list and its measurement
(in this process; the script runs each variant in a fresh one)."""
import importlib.util
import os.path as osp
import pickle

import pytest


@pytest.fixture(scope='module')
def bench(repo_root):
    spec = importlib.util.spec_from_file_location(
        'benchmark_index', repo_root / 'tools/analysis/benchmark_index.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_index_benchmark_measures_each_variant(bench, tmp_path):
    paths = bench.synthetic_paths(3000)
    assert len(set(paths)) == 3000
    assert all(p.endswith('.jpg') and p.count('/') == 1 for p in paths)
    (tmp_path / 'images').mkdir()
    (tmp_path / 'CFS_list.pkl').write_bytes(pickle.dumps(paths))
    for variant, n in (('compact', 3000), ('compact_half', 1500),
                       ('baseline', 3000)):
        res = bench.measure(variant, str(tmp_path), probes=100)
        assert res['entries'] == n
        assert res['example'] == osp.join(tmp_path, 'images', paths[0])
        assert res['init_s'] >= 0 and res['get_data_info_us'] > 0
