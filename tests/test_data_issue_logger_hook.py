"""DataIssueLoggerHook: stops early on a wrong keypoint path, and logs how
much part guidance the masks got (warning when keypoints are useless)."""
import re
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
from mmengine.config import ConfigDict
from mmpretrain.structures import DataSample

from hap_mm.datasets import LUPersonKeypointDataset, hap_collate
from hap_mm.engine.hooks import DataIssueLoggerHook
from hap_mm.engine.hooks.data_issue_logger_hook import (
    TooManyBadKeypointsError,
)

MASKS = dict(type='PartAwareMaskGenerator', input_size=(256, 128),
             score_thr=0.3)
PIPELINE = [
    dict(type='KeypointRandomResizedCrop', scale=(256, 128),
         crop_ratio_range=(0.8, 1.0), aspect_ratio_range=(3. / 4., 4. / 3.),
         relative_aspect=True),
    dict(type='KeypointRandomFlip', prob=0.5, swap_left_right=True),
    dict(type='PackInputs', meta_keys=['img_path', 'data_issues',
                                       'keypoints', 'keypoints_visible']),
]


class _Logger:

    def __init__(self):
        self.records = []

    def info(self, msg):
        self.records.append(('info', msg))

    def warning(self, msg):
        self.records.append(('warning', msg))

    def text(self, level=None):
        return '\n'.join(m for lv, m in self.records
                         if level in (None, lv))


def _runner(mask_cfg=MASKS, dataset=None):
    cfg = ConfigDict(train_dataloader=dict(
        collate_fn=dict(type='hap_collate', mask_generator=mask_cfg),
        dataset=dict(pipeline=[])))
    return SimpleNamespace(
        logger=_Logger(), epoch=0, cfg=cfg,
        train_dataloader=SimpleNamespace(dataset=dataset))


def _batch(issue_flags):
    """Data samples, with a missing keypoint file where the flag is set."""
    samples = []
    for i, bad in enumerate(issue_flags):
        s = DataSample()
        issues = [('keypoints', f'keypoints/x/{i}.npy', 'missing file')] \
            if bad else []
        s.set_metainfo(dict(data_issues=issues))
        samples.append(s)
    return dict(data_samples=samples)


def _run(hook, runner, batches, end_epoch=True):
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    for i, batch in enumerate(batches):
        hook.after_train_iter(runner, i, batch)
    if end_epoch:
        hook.after_train_epoch(runner)


def test_fail_fast_after_the_first_1000_samples_of_a_rank():
    # 40 batches of 25 = 1000 samples, 52% bad: stops at sample 1000
    flags = [i % 25 < 13 for i in range(25)]
    hook, runner = DataIssueLoggerHook(), _runner()
    with pytest.raises(TooManyBadKeypointsError) as err:
        _run(hook, runner, [_batch(flags)] * 40, end_epoch=False)
    msg = str(err.value)
    assert '520 of the first 1000 samples' in msg
    assert '"missing file"' in msg and 'max_bad_keypoint_fraction=0.5' in msg
    assert re.search(r'e\.g\. keypoints/x/0\.npy, keypoints/x/1\.npy, '
                     r'keypoints/x/2\.npy\.', msg)
    # 48% bad: trains on, and is checked only once (later samples are
    # not counted even when all bad)
    flags = [i % 25 < 12 for i in range(25)]
    hook = DataIssueLoggerHook()
    _run(hook, _runner(), [_batch(flags)] * 40 + [_batch([True] * 25)] * 40)


def test_fail_fast_on_a_first_epoch_shorter_than_1000_samples():
    hook = DataIssueLoggerHook()
    runner = _runner()
    _run(hook, runner, [_batch([True, False, True])] * 3, end_epoch=False)
    with pytest.raises(TooManyBadKeypointsError, match='6 of the first 9'):
        hook.after_train_epoch(runner)
    # the threshold is a parameter; 1.0 never stops
    _run(DataIssueLoggerHook(max_bad_keypoint_fraction=1.0), _runner(),
         [_batch([True] * 8)] * 3)


def test_misnamed_keypoint_folder_stops_the_demo_run(train_demo, demo_copy,
                                                     tmp_path):
    shutil.move(demo_copy / 'keypoints', demo_copy / 'keypoint')
    proc = train_demo(tmp_path / 'work',
                      f'train_dataloader.dataset.data_root={demo_copy}',
                      'train_cfg.max_epochs=2', check=False)
    assert proc.returncode != 0
    err = proc.stderr
    assert 'TooManyBadKeypointsError' in err
    assert '"missing file"' in err
    paths = re.findall(r'keypoints/\w+/[\w.-]+\.npy', err.split('e.g.')[-1])
    assert len(set(paths)) >= 3
    # the epoch's part-guidance line came first, from the real collate
    log = proc.stdout + err
    assert re.search(r'part guidance: 0\.00 part patches per view, 100\.0% '
                     r'of \d+ samples without a usable keypoint', log), log[-3000:]
    assert 'part guidance is (near) absent' in log


# ------------------------------------------------------- part guidance
def _tree_with(demo_copy, change):
    """Rewrite every keypoint file of the demo copy with ``change(arr, h,
    w)`` (arr (17, 3) x, y, score in crop pixels)."""
    import cv2
    for npy in (demo_copy / 'keypoints').rglob('*.npy'):
        rel = npy.relative_to(demo_copy / 'keypoints').with_suffix('.jpg')
        h, w = cv2.imread(str(demo_copy / 'images' / rel)).shape[:2]
        obj = np.load(npy, allow_pickle=True)
        arr = np.asarray(obj[0][0]['keypoints'], np.float32)
        np.save(npy, change(arr.copy(), h, w))


def _normalised(arr, h, w):
    arr[:, 0] /= w
    arr[:, 1] /= h
    return arr


def _full_frame(arr, h, w):
    arr[:, 0] += 3 * w  # the crop's box in a larger frame
    arr[:, 1] += 2 * h
    return arr


def _low_scores(arr, h, w):
    arr[:, 2] = np.minimum(arr[:, 2], 0.29)
    return arr


@pytest.mark.parametrize('change', [None, _normalised, _full_frame,
                                    _low_scores])
def test_part_guidance_is_logged_and_its_absence_warned(demo_copy, change):
    if change is not None:
        _tree_with(demo_copy, change)
    np.random.seed(0)
    ds = LUPersonKeypointDataset(str(demo_copy), pipeline=PIPELINE)
    hook, runner = DataIssueLoggerHook(), _runner()
    batches = []
    for _ in range(3):  # 81 samples, 162 views
        for start in range(0, len(ds), 9):
            batches.append(hap_collate(
                [ds[i] for i in range(start, min(start + 9, len(ds)))],
                mask_generator=MASKS, visualise=True))
    _run(hook, runner, batches)
    info = runner.logger.text('info')
    m = re.search(r'epoch 1: part guidance: ([\d.]+) part patches per view, '
                  r'([\d.]+)% of 81 samples without a usable keypoint', info)
    assert m, info
    per_view, share = float(m.group(1)), float(m.group(2))
    # independent count from the masks the collate returned
    parts = [b['part_mask'][i].sum() / 2 for b in batches
             for i in range(len(b['data_samples']))]
    assert per_view == pytest.approx(np.mean(parts), abs=0.006)
    warnings = runner.logger.text('warning')
    if change is None:
        assert per_view > 2 and share < 10
        assert 'part guidance is (near) absent' not in warnings
    else:
        assert per_view < 0.5
        assert 'part guidance is (near) absent' in warnings
        assert 'prepare_lup.py' in warnings
    if change in (_full_frame, _low_scores):
        assert share > 90


def test_no_guidance_warning_for_block_only_ablations(demo_copy):
    _tree_with(demo_copy, _low_scores)
    ds = LUPersonKeypointDataset(str(demo_copy), pipeline=PIPELINE)
    for cfg in (dict(MASKS, part_guided=False),
                dict(MASKS, release_compatible=True)):
        hook, runner = DataIssueLoggerHook(), _runner(cfg)
        _run(hook, runner, [hap_collate([ds[i] for i in range(9)],
                                        mask_generator=cfg)])
        assert 'part guidance: ' in runner.logger.text('info')
        assert 'absent' not in runner.logger.text('warning')
