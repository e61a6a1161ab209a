"""Check a LUPerson tree against its keypoints and write the JSONL index that
``LUPersonKeypointDataset`` reads.

Expects the release layout under DATA_ROOT::

    images/<sub>/<name>.jpg
    keypoints/<sub>/<name>.npy   # [[{'keypoints': (17, 3)}]] or (17, 3): x, y, score

Takes every image under ``images/`` or, with ``--cfs-list``, the paths of
the release's ``CFS_list.pkl`` (relative to ``images/``; read without
running pickled code). That list holds ALL 4,180,243 LUPerson images, best
CFS score first; the release trains on its first half, so with
``--cfs-list`` only the first half is checked and indexed (``--sample-ratio``,
default 0.5 there and 1 for a scan, as ``sample_ratio`` of
``LUPersonKeypointDataset``: a fraction, or an int count; from a scan a
random selection with ``--sample-seed``). The report says how many were
selected, e.g. ``selected 2090121 of 4180243 images (first half of
CFS_list.pkl, CFS order)``.

For each image it checks that the image exists and is not empty
(``--check-images`` also decodes it, with the dataset's rules) and that its
keypoint file exists and holds finite (17, 3) keypoints with a positive
score. Keypoints that read fine but give no part guidance are flagged with
counts and examples: coordinates normalised to [0, 1] and full-frame
coordinates on a crop (most confident keypoints outside the image) count as
bad keypoints; crops whose scores are all below ``--min-score`` are
low-confidence. ``--out`` writes one ``{"img_path": ..., "keypoints": [[x,
y, score] x 17]}`` line per usable crop (keypoints inline, so training opens
no .npy files); images with a missing or bad keypoint file are left out, and
so are low-confidence crops with ``--drop-low-confidence``. The index holds
the selection already: train on it with ``sample_ratio=1.0``.

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

from hap_mm.utils import HelpFormatter

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')
COCO_NAMES = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
    'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
    'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle',
    'right_ankle')
KINDS = ('ok', 'missing_image', 'bad_image', 'missing_keypoints',
         'bad_keypoints')
# keypoints that read fine but give no part guidance
USELESS = ('normalised_coordinates', 'outside_image', 'no_confident_keypoints')
# (image path relative to images/, kind, message, (17, 3) keypoints or None,
#  one of USELESS or None)
Record = Tuple[str, str, str, Optional[np.ndarray], Optional[str]]


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


def image_size(path: str) -> Optional[Tuple[int, int]]:
    """(height, width) from the image header, None when unreadable."""
    from PIL import Image
    try:
        with Image.open(path) as img:
            return img.size[1], img.size[0]
    except Exception:  # the image checks report unreadable images
        return None


def useless_keypoints(kpts: np.ndarray, size: Optional[Tuple[int, int]],
                      min_score: float) -> Tuple[Optional[str], str]:
    """(one of ``USELESS`` or None, message) for readable keypoints.

    ``no_confident_keypoints``: no score reaches ``min_score``;
    ``normalised_coordinates``: every confident keypoint lies in [0, 1]
    while the image is larger; ``outside_image``: more than half of them
    lie outside the (H, W) image (full-frame coordinates on a crop).
    """
    scores = kpts[:, 2]
    confident = scores >= min_score
    if not confident.any():
        return ('no_confident_keypoints',
                f'no keypoint score >= {min_score} (highest '
                f'{scores.max():.3f})')
    if size is None:
        return None, ''
    h, w = size
    x, y = kpts[confident, 0], kpts[confident, 1]
    if (max(h, w) > 2 and (x >= 0).all() and (x <= 1).all()
            and (y >= 0).all() and (y <= 1).all()):
        return ('normalised_coordinates',
                f'every confident keypoint within [0, 1] on a {w}x{h} image: '
                'coordinates normalised instead of pixels?')
    outside = (x < 0) | (x >= w) | (y < 0) | (y >= h)
    if outside.mean() > 0.5:
        return ('outside_image',
                f'{int(outside.sum())} of {len(x)} confident keypoints '
                f'outside the {w}x{h} image: full-frame coordinates for a '
                'crop?')
    return None, ''


class Checker:
    """Checks one image and its keypoints (picklable, for a process pool)."""

    def __init__(self, data_root: str, decode: bool,
                 min_score: float) -> None:
        self.img_dir = osp.join(data_root, 'images')
        self.kpt_dir = osp.join(data_root, 'keypoints')
        self.decode = decode
        self.min_score = min_score

    def __call__(self, rel: str) -> Record:
        img_path = osp.join(self.img_dir, rel)
        kind, msg = check_image(img_path, self.decode)
        if kind != 'ok':
            return rel, kind, msg, None, None
        kind, msg, kpts = check_keypoints(
            osp.join(self.kpt_dir, osp.splitext(rel)[0] + '.npy'))
        if kind != 'ok':
            return rel, kind, msg, kpts, None
        flag, why = useless_keypoints(kpts, image_size(img_path),
                                      self.min_score)
        if flag in ('normalised_coordinates', 'outside_image'):
            return rel, 'bad_keypoints', why, None, flag
        return rel, kind, why, kpts, flag


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
        self.useless: Counter = Counter()
        self.useless_examples: Dict[str, List[str]] = {}

    def add(self, rel: str, kind: str, msg: str, kpts: Optional[np.ndarray],
            flag: Optional[str] = None) -> bool:
        """Count a record; True when its crop is low-confidence."""
        self.kinds[kind] += 1
        if flag:
            self.useless[flag] += 1
            examples = self.useless_examples.setdefault(flag, [])
            if len(examples) < 5:
                examples.append(f'{rel} ({msg})')
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
            useless_keypoints={k: self.useless[k] for k in USELESS},
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


def print_report(stats: Stats, selection: dict, orphans: int,
                 written: Optional[int], out: Optional[str]) -> dict:
    """Print the human summary and return the SUMMARY dict."""
    s = stats.summary()
    print(f"selected {selection['selected']} of {selection['listed']} images "
          f"({selection['how']})")
    for kind in KINDS:
        print(f'  {kind:<18} {s[kind]}')
    print(f'  low-confidence crops (mean score < {stats.min_score}): '
          f"{s['low_confidence']}")
    useless = sum(stats.useless.values())
    if useless:
        print(f'WARNING: {useless} crops have keypoints that give no part '
              'guidance (coordinates normalised to [0, 1] or outside the '
              'crop are bad keypoints and left out; crops without a score '
              f'>= {stats.min_score} train with block masks only):')
        for flag in USELESS:
            if stats.useless[flag]:
                print(f'  {flag:<24} {stats.useless[flag]}, e.g. ' +
                      '; '.join(stats.useless_examples[flag]))
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
    return dict(s, total=selection['selected'], listed=selection['listed'],
                selection=selection['how'], orphan_keypoints=orphans,
                written=written, out=out)


def _ratio(text: str):
    """``--sample-ratio``: an int count or a float fraction."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument(
        'data_root', help='The folder holding images/ and keypoints/.')
    parser.add_argument(
        '--cfs-list',
        help="The release's CFS_list.pkl (default: every image under "
        'images/).')
    parser.add_argument(
        '--sample-ratio', type=_ratio, default=None,
        help='The fraction (float in (0, 1]) or number (int > 1) of the '
        'images to check and index, as the dataset\'s sample_ratio: the '
        'first ones of a --cfs-list, a random selection of a scan (default: '
        '0.5 with --cfs-list, the release\'s first half of CFS_list.pkl; 1 '
        'without).')
    parser.add_argument(
        '--sample-seed', type=int, default=0,
        help='The seed of the random selection from a scan.')
    parser.add_argument(
        '--out', help='The JSONL index to write (default: none).')
    parser.add_argument(
        '--min-score', type=float, default=0.3,
        help='The keypoint score threshold for visibility and low '
        'confidence.')
    parser.add_argument(
        '--drop-low-confidence', action='store_true',
        help='Leave low-confidence crops out of the index.')
    parser.add_argument(
        '--check-images', action='store_true',
        help='Decode every image (slow); otherwise check only existence and '
        'size.')
    parser.add_argument(
        '--log',
        help='Write every problem as "kind<TAB>path<TAB>message" to this '
        'file.')
    parser.add_argument(
        '--workers', type=int, default=min(8, os.cpu_count() or 1),
        help='The number of checking processes (at most 8, one per CPU by '
        'default).')
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
    from hap_mm.datasets.lup_keypoint_dataset import select_entries
    if cfs:
        rels = read_cfs_list(cfs)
        source = osp.basename(cfs)
    else:
        rels = scan_images(img_dir)
        source = f'a scan of {img_dir}'
    ratio = args.sample_ratio
    if ratio is None:
        ratio = 0.5 if cfs else 1.0
    try:
        keep, how = select_entries(len(rels), ratio, args.sample_seed,
                                   bool(cfs), source)
    except (TypeError, ValueError) as e:
        raise SystemExit(f'--sample-ratio {ratio}: {e}') from e
    selection = dict(listed=len(rels), selected=len(keep), how=how)
    orphans = 0
    if not cfs and osp.isdir(osp.join(root, 'keypoints')):
        stems = {osp.splitext(r)[0] for r in rels}
        orphans = sum(s not in stems
                      for s in scan_keypoint_stems(osp.join(root, 'keypoints')))
    if len(keep) < len(rels):
        rels = [rels[i] for i in keep]
    stats = Stats(args.min_score)
    out, log_path = under_root(root, args.out), under_root(root, args.log)
    # file names that are not UTF-8 are logged as \udcXX
    log = open(log_path, 'w', encoding='utf-8',
               errors='backslashreplace') if log_path else None
    written = 0

    def index_lines() -> Iterator[str]:
        nonlocal written
        for rel, kind, msg, kpts, flag in check_all(rels, Checker(
                root, args.check_images, args.min_score), args.workers):
            low = stats.add(rel, kind, msg, kpts, flag)
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
    summary = print_report(stats, selection, orphans,
                           written if out else None, out)
    print('SUMMARY ' + json.dumps(summary), flush=True)
    return 0 if stats.kinds['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
