"""tools/data/prepare_lup.py: checks a release tree, summarises it and writes
an index that LUPersonKeypointDataset reads without a single problem."""
import json
import pickle

import numpy as np

from hap_mm.datasets import LUPersonKeypointDataset

TOOL = 'tools/data/prepare_lup.py'


def _summary(proc) -> dict:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1][len('SUMMARY '):])


def _index(path) -> list:
    return [json.loads(ln)['img_path'] for ln in path.read_text().splitlines()]


def test_broken_files_are_counted_logged_and_left_out(demo_copy, salt_tree,
                                                      tool):
    bad = salt_tree(demo_copy)
    # a low-confidence crop and a keypoint file without an image
    rels = sorted(p.relative_to(demo_copy / 'images')
                  for p in (demo_copy / 'images').rglob('*.jpg'))
    low = rels[10]
    kpt = demo_copy / 'keypoints' / low.with_suffix('.npy')
    arr = np.full((17, 3), 10.0, np.float32)
    arr[:, 2] = 0.1
    np.save(kpt, arr)
    np.save(demo_copy / 'keypoints' / 'coco' / 'orphan.npy', arr)

    s = _summary(
        tool([TOOL, demo_copy, '--out', 'index.jsonl', '--check-images',
              '--log', 'problems.log', '--min-score', '0.3', '--workers',
              '2']))
    n = len(rels)
    assert s['total'] == n
    assert (s['bad_image'], s['missing_keypoints'], s['bad_keypoints'],
            s['missing_image']) == (2, 1, 4, 0)
    assert s['ok'] == n - 7 and s['written'] == n - 7
    assert s['low_confidence'] == 1 and s['orphan_keypoints'] == 1
    # per-joint visibility: share of usable crops with score >= 0.3
    lines = [json.loads(ln) for ln in
             (demo_copy / 'index.jsonl').read_text().splitlines()]
    scores = np.array([ln['keypoints'] for ln in lines])[:, :, 2]
    assert list(s['visible_fraction']) == [
        'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
        'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
        'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
        'right_knee', 'left_ankle', 'right_ankle']
    assert np.allclose(list(s['visible_fraction'].values()),
                       (scores >= 0.3).mean(0), atol=1e-4)
    log = (demo_copy / 'problems.log').read_text()
    for kind, rel in (('bad_image', bad['truncated']),
                      ('bad_image', bad['empty']),
                      ('missing_keypoints', bad['missing']),
                      ('bad_keypoints', bad['nan']),
                      ('bad_keypoints', bad['shape']),
                      ('bad_keypoints', bad['text']),
                      ('bad_keypoints', bad['zero']),
                      ('low_confidence', low)):
        assert f'{kind}\t{rel}\t' in log
    index = _index(demo_copy / 'index.jsonl')
    assert str(low) in index and not set(map(str, bad.values())) & set(index)
    # the index trains without a single data issue, strict mode on
    ds = LUPersonKeypointDataset(
        data_root=str(demo_copy), ann_file='index.jsonl', strict=True)
    assert len(ds) == n - 7
    for i in range(len(ds)):
        assert ds[i]['data_issues'] == []


def test_cfs_subset_and_dropping_low_confidence(demo_copy, tool):
    rels = sorted(str(p.relative_to(demo_copy / 'images'))
                  for p in (demo_copy / 'images').rglob('*.jpg'))
    subset = ['./' + rels[0], rels[1], rels[2], 'gone/missing.jpg']
    (demo_copy / 'CFS_list.pkl').write_bytes(pickle.dumps(subset))
    kpt = demo_copy / 'keypoints' / rels[2].replace('.jpg', '.npy')
    arr = np.full((17, 3), 5.0, np.float32)
    arr[:, 2] = 0.05
    np.save(kpt, arr)
    s = _summary(
        tool([TOOL, demo_copy, '--cfs-list', 'CFS_list.pkl', '--out',
              'cfs.jsonl', '--drop-low-confidence', '--workers', '0',
              '--sample-ratio', '1.0']))
    assert (s['total'], s['ok'], s['missing_image'], s['low_confidence'],
            s['written']) == (4, 3, 1, 1, 2)
    assert _index(demo_copy / 'cfs.jsonl') == rels[:2]


def test_validation_only_writes_nothing(demo_copy, tool):
    s = _summary(tool([TOOL, demo_copy, '--workers', '1']))
    assert s['ok'] == s['total'] > 0 and s['written'] is None
    assert not list(demo_copy.glob('*.jsonl'))


def test_unsafe_cfs_list_is_refused(demo_copy, tool):
    class Evil:

        def __reduce__(self):
            return (print, ('pwned',))

    (demo_copy / 'CFS_list.pkl').write_bytes(pickle.dumps([Evil()]))
    proc = tool([TOOL, demo_copy, '--cfs-list', 'CFS_list.pkl'])
    assert proc.returncode != 0
    assert 'CFS_list.pkl' in proc.stderr and 'pwned' not in proc.stdout


def test_cfs_list_first_half_is_selected_and_reported(demo_copy, tool):
    # the release's list holds every image, best CFS score first; the
    # release (and the configs, sample_ratio=0.5) train on its first half
    rels = sorted(str(p.relative_to(demo_copy / 'images'))
                  for p in (demo_copy / 'images').rglob('*.jpg'))[::-1]
    (demo_copy / 'CFS_list.pkl').write_bytes(pickle.dumps(rels))
    proc = tool([TOOL, demo_copy, '--cfs-list', 'CFS_list.pkl', '--out',
                 'cfs.jsonl', '--workers', '1'])
    s = _summary(proc)
    n = len(rels) // 2
    assert (s['listed'], s['total'], s['ok'], s['written']) == (
        len(rels), n, n, n)
    assert (f'selected {n} of {len(rels)} images (first half of '
            'CFS_list.pkl, CFS order)') in proc.stdout
    assert _index(demo_copy / 'cfs.jsonl') == rels[:n]
    # the index holds the selection: the dataset takes all of it
    ds = LUPersonKeypointDataset(str(demo_copy), ann_file='cfs.jsonl')
    assert len(ds) == n


def test_readable_but_useless_keypoints_are_flagged(demo_copy, tool):
    import cv2
    rels = sorted(p.relative_to(demo_copy / 'images')
                  for p in (demo_copy / 'images').rglob('*.jpg'))
    changed = {}
    for name, rel in zip(('normalised_coordinates', 'outside_image',
                          'no_confident_keypoints'), rels[3:6]):
        h, w = cv2.imread(str(demo_copy / 'images' / rel)).shape[:2]
        kpt = demo_copy / 'keypoints' / rel.with_suffix('.npy')
        arr = np.asarray(np.load(kpt, allow_pickle=True)[0][0]['keypoints'],
                         np.float32)
        if name == 'normalised_coordinates':
            arr[:, 0] /= w
            arr[:, 1] /= h
        elif name == 'outside_image':  # full-frame coordinates
            arr[:, 0] += 2 * w
            arr[:, 1] += h
        else:
            arr[:, 2] = np.minimum(arr[:, 2], 0.25)
        np.save(kpt, arr)
        changed[name] = str(rel)
    proc = tool([TOOL, demo_copy, '--out', 'index.jsonl', '--workers', '2'])
    s = _summary(proc)
    assert s['useless_keypoints'] == dict.fromkeys(changed, 1)
    assert s['bad_keypoints'] == 2 and s['ok'] == len(rels) - 2
    assert 'WARNING: 3 crops have keypoints that give no part guidance' \
        in proc.stdout
    for name, rel in changed.items():
        line = next(ln for ln in proc.stdout.splitlines()
                    if ln.strip().startswith(name))
        assert rel in line, (name, line)
    index = _index(demo_copy / 'index.jsonl')
    assert changed['no_confident_keypoints'] in index
    assert changed['normalised_coordinates'] not in index
    assert changed['outside_image'] not in index


def test_random_selection_of_a_scan_matches_the_dataset(demo_copy, tool):
    # nested names whose walk order differs from their sorted order
    src = sorted((demo_copy / 'images').rglob('*.jpg'))[0]
    for name in ('a/x.jpg', 'a.b/y.jpg', 'z.jpg'):
        dst = demo_copy / 'images' / name
        dst.parent.mkdir(exist_ok=True)
        dst.write_bytes(src.read_bytes())
        kpt = (demo_copy / 'keypoints' / name).with_suffix('.npy')
        kpt.parent.mkdir(exist_ok=True)
        kpt.write_bytes(
            (demo_copy / 'keypoints' / src.relative_to(
                demo_copy / 'images')).with_suffix('.npy').read_bytes())
    s = _summary(tool([TOOL, demo_copy, '--sample-ratio', '0.5', '--out',
                       'half.jsonl', '--workers', '1']))
    ds = LUPersonKeypointDataset(str(demo_copy), sample_ratio=0.5)
    chosen = [ds.get_data_info(i)['img_path'] for i in range(len(ds))]
    assert s['total'] == len(ds) == s['listed'] // 2
    assert [str(demo_copy / 'images' / r)
            for r in _index(demo_copy / 'half.jsonl')] == chosen
