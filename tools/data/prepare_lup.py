"""Check a LUPerson tree against its keypoints and write the JSONL index that
``LUPersonKeypointDataset`` reads.

Expects the release layout under DATA_ROOT::

    images/<sub>/<name>.jpg
    keypoints/<sub>/<name>.npy   # [[{'keypoints': (17, 3)}]] or (17, 3): x, y, score

Takes every image under ``images/`` or, with ``--cfs-list``, the paths of
the release's ``CFS_list.pkl`` (relative to ``images/``; read without
running pickled code). For each image it checks that the image exists and is
not empty (``--check-images`` also decodes it, with the dataset's rules) and
that its keypoint file exists and holds finite (17, 3) keypoints with a
positive score. ``--out`` writes one ``{"img_path": ..., "keypoints":
[[x, y, score] x 17]}`` line per usable crop (keypoints inline, so training
opens no .npy files); images with a missing or bad keypoint file are left
out, and so are low-confidence crops with ``--drop-low-confidence``.

A crop is low-confidence when the mean of its 17 scores is below
``--min-score``; a joint counts as visible when its score is at least
``--min-score`` (the same threshold the mask generator's ``score_thr``
applies). Relative ``--cfs-list`` / ``--out`` / ``--log`` paths are taken
relative to DATA_ROOT, like ``ann_file`` in a config.

    python tools/data/prepare_lup.py DATA_ROOT --cfs-list CFS_list.pkl --out index.jsonl

The summary ends with a ``SUMMARY {json}`` line.
"""
import argparse
import json
import os
import os.path as osp
import sys
from collections import Counter
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')
COCO_NAMES = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
    'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
    'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle',
    'right_ankle')
KINDS = ('ok', 'missing_image', 'bad_image', 'missing_keypoints',
         'bad_keypoints')
# (image path relative to images/, kind, message, (17, 3) keypoints or None)
Record = Tuple[str, str, str, Optional[np.ndarray]]


def under_root(data_root: str, path: Optional[str]) -> Optional[str]:
    """``path`` if absolute, else ``DATA_ROOT/path``."""
    if path is None or osp.isabs(path):
        return path
    return osp.join(data_root, path)


def scan_images(img_dir: str) -> List[str]:
    """Sorted image paths under ``img_dir``, relative to it (symlinked
    folders followed, each folder once)."""
    from hap_mm.datasets.image_io import scan_files
    return scan_files(img_dir, IMG_EXTENSIONS)


def scan_keypoint_stems(kpt_dir: str) -> List[str]:
    """``<sub>/<name>`` of every .npy under ``kpt_dir``."""
    from hap_mm.datasets.image_io import scan_files
    return [osp.splitext(p)[0] for p in scan_files(kpt_dir, ('.npy', ))]


def read_cfs_list(path: str) -> List[str]:
    """Relative image paths of a CFS list (``./`` prefixes dropped).

    Raises:
        SystemExit: the file is missing or not a pickled list of paths.
    """
    from hap_mm.datasets.keypoint_io import load_path_list
    try:
        with open(path, 'rb') as f:
            paths = load_path_list(f.read())
    except Exception as e:  # unreadable, unsafe or not a list of paths
        raise SystemExit(f'--cfs-list {path}: {e.__class__.__name__}: {e}') from e
    return [p.removeprefix('./') for p in paths]


def check_image(path: str, decode: bool) -> Tuple[str, str]:
    """(kind, message) for an image: ok, missing_image or bad_image."""
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        return 'missing_image', 'no such file'
    except OSError as e:
        return 'bad_image', f'cannot stat ({e.__class__.__name__})'
    if size == 0:
        return 'bad_image', 'empty file'
    if not decode:
        return 'ok', ''
    from hap_mm.datasets.image_io import read_image
    msg = read_image(path)[1]
    return ('bad_image', msg) if msg else ('ok', '')


def check_keypoints(path: str) -> Tuple[str, str, Optional[np.ndarray]]:
    """(kind, message, (17, 3) float32 or None) for a keypoint file."""
    from hap_mm.datasets.keypoint_io import (
        keypoints_from_object,
        safe_load_npy,
        split_keypoints,
    )
    try:
        with open(path, 'rb') as f:
            kpts = keypoints_from_object(safe_load_npy(f.read()))
    except FileNotFoundError:
        return 'missing_keypoints', 'no such file', None
    except Exception as e:  # any unreadable file is a counted problem
        return 'bad_keypoints', f'{e.__class__.__name__}: {e}', None
    problem = split_keypoints(kpts)[2]
    if problem:
        return 'bad_keypoints', problem, None
    return 'ok', '', kpts


class Checker:
    """Checks one image and its keypoints (picklable, for a process pool)."""

    def __init__(self, data_root: str, decode: bool) -> None:
        self.img_dir = osp.join(data_root, 'images')
        self.kpt_dir = osp.join(data_root, 'keypoints')
        self.decode = decode

    def __call__(self, rel: str) -> Record:
        kind, msg = check_image(osp.join(self.img_dir, rel), self.decode)
        if kind != 'ok':
            return rel, kind, msg, None
        kind, msg, kpts = check_keypoints(
            osp.join(self.kpt_dir, osp.splitext(rel)[0] + '.npy'))
        return rel, kind, msg, kpts


def check_all(rels: Sequence[str], checker: Checker,
              workers: int) -> Iterator[Record]:
    """Records in the order of ``rels``; ``workers`` processes when > 1.

    Raises:
        RuntimeError: a checking process died (a crash in a decoder, the
            OOM killer); ``multiprocessing.Pool`` would wait for it for ever.
    """
    if workers <= 1:
        yield from map(checker, rels)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    done = 0
    with ProcessPoolExecutor(workers, mp.get_context('fork')) as pool:
        try:
            for record in pool.map(checker, rels, chunksize=256):
                done += 1
                yield record
        except BrokenProcessPool as e:
            raise RuntimeError(
                f'a checking process died after {done} of {len(rels)} images '
                f'(from {rels[done]!r} on); rerun with --workers 0 to see '
                'which file crashes it') from e


class Stats:
    """Counts, per-joint visibility and low-confidence crops."""

    def __init__(self, min_score: float) -> None:
        self.min_score = min_score
        self.kinds: Counter = Counter()
        self.visible = np.zeros(len(COCO_NAMES), np.int64)
        self.low_confidence = 0
        self.score_sum = 0.0
        self.examples: Dict[str, List[str]] = {}

    def add(self, rel: str, kind: str, msg: str,
            kpts: Optional[np.ndarray]) -> bool:
        """Count a record; True when its crop is low-confidence."""
        self.kinds[kind] += 1
        if kind != 'ok':
            self.examples.setdefault(kind, [])
            if len(self.examples[kind]) < 5:
                self.examples[kind].append(f'{rel} ({msg})')
            return False
        scores = kpts[:, 2]
        self.visible += scores >= self.min_score
        self.score_sum += float(scores.mean())
        low = float(scores.mean()) < self.min_score
        self.low_confidence += int(low)
        return low

    def summary(self) -> dict:
        ok = self.kinds['ok']
        return dict(
            {k: self.kinds[k] for k in KINDS},
            low_confidence=self.low_confidence,
            mean_score=self.score_sum / ok if ok else None,
            visible_fraction={
                name: round(float(v) / ok, 4) if ok else None
                for name, v in zip(COCO_NAMES, self.visible)
            })


def jsonl_line(rel: str, kpts: np.ndarray) -> str:
    """One index line; x, y rounded to 0.01 px, score to 1e-4."""
    rows = [[round(float(x), 2), round(float(y), 2), round(float(s), 4)]
            for x, y, s in kpts]
    return json.dumps({'img_path': rel, 'keypoints': rows}) + '\n'


def write_atomic_lines(path: str, lines: Iterable[str]) -> None:
    """Write lines to ``path`` through a temporary file in its folder."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    # hidden and fixed: never matches ``FILE*``, reused by the next run
    tmp = osp.join(osp.dirname(osp.abspath(path)),
                   f'.{osp.basename(path)}.tmp')
    try:
        with open(tmp, 'w', encoding='utf-8') as f:
            f.writelines(lines)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def print_report(stats: Stats, total: int, source: str, orphans: int,
                 written: Optional[int], out: Optional[str]) -> dict:
    """Print the human summary and return the SUMMARY dict."""
    s = stats.summary()
    print(f'{total} images from {source}')
    for kind in KINDS:
        print(f'  {kind:<18} {s[kind]}')
    print(f'  low-confidence crops (mean score < {stats.min_score}): '
          f"{s['low_confidence']}")
    if s['mean_score'] is not None:
        print(f"  mean keypoint score: {s['mean_score']:.3f}")
    if orphans:
        print(f'  keypoint files without an image: {orphans}')
    for kind, examples in stats.examples.items():
        print(f'  e.g. {kind}: ' + '; '.join(examples))
    if stats.kinds['ok']:
        print(f'visible (score >= {stats.min_score}) per joint:')
        for name, frac in s['visible_fraction'].items():
            print(f'  {name:<15} {frac:6.1%}')
    if out is not None:
        print(f'wrote {written} lines to {out}')
    return dict(s, total=total, orphan_keypoints=orphans, written=written,
                out=out)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0] + ' ' + __doc__.split('\n')[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('data_root', help='folder holding images/ and keypoints/')
    parser.add_argument(
        '--cfs-list',
        help="the release's CFS_list.pkl (default: every image under images/)")
    parser.add_argument('--out', help='JSONL index to write (default: none)')
    parser.add_argument(
        '--min-score', type=float, default=0.3,
        help='keypoint score threshold for visibility and low confidence')
    parser.add_argument(
        '--drop-low-confidence', action='store_true',
        help='leave low-confidence crops out of the index')
    parser.add_argument(
        '--check-images', action='store_true',
        help='decode every image (slow); otherwise only existence and size')
    parser.add_argument(
        '--log', help='write every problem as "kind<TAB>path<TAB>message"')
    parser.add_argument(
        '--workers', type=int, default=min(8, os.cpu_count() or 1),
        help='checking processes')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    for stream in (sys.stdout, sys.stderr):  # non-UTF-8 file names
        if hasattr(stream, 'reconfigure'):
            stream.reconfigure(errors='backslashreplace')
    root = args.data_root
    img_dir = osp.join(root, 'images')
    if not osp.isdir(img_dir):
        raise SystemExit(f'{img_dir}: no images/ folder under {root}')
    cfs = under_root(root, args.cfs_list)
    if cfs:
        rels = read_cfs_list(cfs)
        source = cfs
    else:
        rels = scan_images(img_dir)
        source = f'a scan of {img_dir}'
    orphans = 0
    if not cfs and osp.isdir(osp.join(root, 'keypoints')):
        stems = {osp.splitext(r)[0] for r in rels}
        orphans = sum(s not in stems
                      for s in scan_keypoint_stems(osp.join(root, 'keypoints')))
    stats = Stats(args.min_score)
    out, log_path = under_root(root, args.out), under_root(root, args.log)
    # file names that are not UTF-8 are logged as \udcXX
    log = open(log_path, 'w', encoding='utf-8',
               errors='backslashreplace') if log_path else None
    written = 0

    def index_lines() -> Iterator[str]:
        nonlocal written
        for rel, kind, msg, kpts in check_all(rels, Checker(
                root, args.check_images), args.workers):
            low = stats.add(rel, kind, msg, kpts)
            if kind != 'ok':
                if log:
                    log.write(f'{kind}\t{rel}\t{msg}\n')
                continue
            if low and log:
                log.write(f'low_confidence\t{rel}\tmean score '
                          f'{kpts[:, 2].mean():.3f}\n')
            if not (low and args.drop_low_confidence):
                written += 1
                yield jsonl_line(rel, kpts)

    try:
        if out:
            write_atomic_lines(out, index_lines())
        else:
            for _ in index_lines():
                pass
    finally:
        if log:
            log.close()
    summary = print_report(stats, len(rels), source, orphans,
                           written if out else None, out)
    print('SUMMARY ' + json.dumps(summary), flush=True)
    return 0 if stats.kinds['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
