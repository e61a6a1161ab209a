import re

import numpy as np
import pytest

from hap_mm.datasets.transforms import KeypointNoise


def _results():
    kpts = np.stack([np.arange(17.0) * 5, np.arange(17.0) * 10], -1)
    return dict(
        keypoints=kpts[None].astype(np.float32),
        keypoints_visible=np.ones((1, 17), np.float32))


def test_noise_moves_drops_and_swaps_as_asked():
    np.random.seed(0)
    base = _results()
    moved = KeypointNoise(sigma=4.0)(_results())
    delta = moved['keypoints'] - base['keypoints']
    assert 2.0 < delta.std() < 6.0
    dropped = np.mean([
        (KeypointNoise(drop_prob=0.3)(_results())['keypoints_visible'] == 0
         ).mean() for _ in range(300)
    ])
    assert abs(dropped - 0.3) < 0.03
    swapped = KeypointNoise(swap_prob=1.0)(_results())
    assert swapped['keypoints'][0, 5].tolist() == base['keypoints'][0,
                                                                    6].tolist()
    untouched = KeypointNoise()(_results())
    np.testing.assert_array_equal(untouched['keypoints'], base['keypoints'])


def test_noise_rejects_bad_settings():
    with pytest.raises(ValueError, match='drop_prob'):
        KeypointNoise(drop_prob=1.5)


def test_mask_statistics_tool_reports_degradation(tool, tmp_path):
    out = tmp_path / 'stats.md'
    proc = tool([
        'tools/analysis/mask_statistics.py', 'configs/hap/hap_demo.py',
        '--repeats', '6', '--out', out
    ])
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {}
    for line in out.read_text().splitlines():
        cells = [c.strip() for c in line.strip('|').split('|')]
        if len(cells) == 5 and cells[1].endswith('%'):
            rows[cells[0]] = [float(re.sub('%', '', c)) for c in cells[1:]]
    assert rows['clean'][2] == 100.0  # clean parts lie on the body
    assert rows['pixel noise 16 px'][2] < rows['clean'][2]
    assert rows['60% joints dropped'][0] < rows['clean'][0]
    assert rows['(block-only masking, for reference)'][0] == 0.0
