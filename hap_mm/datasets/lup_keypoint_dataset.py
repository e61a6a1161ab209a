"""Person crops with 17 COCO keypoints each (LUPerson, HAP release layout)."""
import json
import logging
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.dataset.base_dataset import force_full_init
from mmengine.fileio import get as get_bytes
from mmengine.logging import print_log
from mmpretrain.registry import DATASETS, TRANSFORMS

from .coco_keypoints import NUM_KEYPOINTS
from .image_io import decode_image, scan_files
from .keypoint_io import (
    keypoints_from_object,
    load_path_list,
    safe_load_npy,
    split_keypoints,
)

# wrong-shape JSONL lines named one by one in the warning
WRONG_LINES_SHOWN = 10
_KPT_BYTES = NUM_KEYPOINTS * 3 * 4  # (17, 3) float32 inline keypoints


class BadSampleError(RuntimeError):
    """A sample could not be read and the dataset is ``strict``."""


def _check_sample_ratio(ratio: Union[float, int]) -> Union[float, int]:
    """A fraction in (0, 1] (float, or int 1 meaning all) or a count > 1."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)):
        raise TypeError(f'sample_ratio must be a float in (0, 1] or an int '
                        f'count, got {ratio!r}')
    if isinstance(ratio, int):
        if ratio < 1:
            raise ValueError(f'sample_ratio count must be >= 1, got {ratio}')
        return 1.0 if ratio == 1 else ratio
    if not 0 < ratio <= 1:
        raise ValueError(f'sample_ratio must be in (0, 1], got {ratio}')
    return float(ratio)


def select_entries(total: int, ratio: Union[float, int], seed: int,
                   ordered: bool, source: str) -> Tuple[np.ndarray, str]:
    """Indices of the entries ``sample_ratio`` keeps, and what they are.

    A float ratio keeps N = int(ratio x total) entries, an int > 1 that many.
    An ordered list (the CFS list) keeps its first N entries; anything else
    N entries drawn with ``seed`` (the same on every rank and every run),
    returned in index order.

    Returns:
        tuple: int64 indices (N,) and a description such as ``first half of
        CFS_list.pkl, CFS order``.

    Raises:
        ValueError: no entries, or the ratio keeps none or more than all.
    """
    ratio = _check_sample_ratio(ratio)
    if not total:
        raise ValueError(f'LUPersonKeypointDataset: no images in {source}')
    n = int(ratio * total) if isinstance(ratio, float) else ratio
    if n > total:
        raise ValueError(f'sample_ratio={ratio} asks for {n} images but '
                         f'{source} has {total}')
    if n < 1:
        raise ValueError(f'sample_ratio={ratio} keeps none of the {total} '
                         f'images in {source}')
    if n == total:
        return np.arange(total), f'all of {source}'
    part = ('half' if ratio == 0.5 else
            f'{ratio:.4g}' if isinstance(ratio, float) else str(n))
    if ordered:
        order = 'CFS order' if 'cfs' in source.lower() else 'list order'
        return np.arange(n), f'first {part} of {source}, {order}'
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(total, n, replace=False))
    return keep, f'random {part} of {source}, sample_seed={seed}'


@DATASETS.register_module()
class LUPersonKeypointDataset(BaseDataset):
    """Person crops and their keypoints for HAP pre-training.

    Layout under ``data_root`` (the authors' release)::

        images/<sub>/<name>.jpg
        keypoints/<sub>/<name>.npy   # [[{'keypoints': (17, 3)}]] or (17, 3)

    ``ann_file`` selects the images:

    - ``''``: every image under ``images/``, found recursively;
    - ``*.pkl``: the release's CFS list, a pickled list of paths relative to
      ``images/`` (read without executing pickled code);
    - ``*.jsonl``: one ``{"img_path": ..., "keypoints": [[x, y, s] * 17]}``
      per line; paths relative to ``images/``; keypoints inline (no .npy).
      Lines whose keypoints are not (17, 3) are left out with a warning
      naming their line numbers and image paths (an error when ``strict``).

    ``sample_ratio`` selects part of that: a float in (0, 1] is a fraction
    (N = int(ratio x total)), an int > 1 a count. From a ``.pkl`` list the
    first N entries are taken, in list order: the release trains on the
    first half of ``CFS_list.pkl`` (which lists all 4,180,243 LUPerson
    images, best CFS score first), hence ``sample_ratio=0.5`` in the HAP
    configs. From a scan or a JSONL index N entries are drawn at random with
    ``sample_seed``, the same on every rank and every run. The log says
    what was taken, e.g. ``using 2090121 of 4180243 images (first half of
    CFS_list.pkl, CFS order)``.

    The index is two NumPy arrays (paths relative to ``images/`` in one
    byte buffer, and their end offsets; see :meth:`full_init`): about
    54 bytes per image for LUPerson-like paths, shared by the data workers
    without copies.

    Images and keypoint files are read in the data workers. A missing or bad
    keypoint file does not stop training: the sample keeps its image, its
    unusable keypoints get score 0 (block-only masking when none is left) and
    the problem is recorded. An unreadable image (empty, truncated,
    undecodable) is replaced by another random sample and recorded. Recorded
    problems travel with the sample as ``data_issues`` (a list of
    ``(kind, path relative to data_root, message)``) so that
    :class:`DataIssueLoggerHook` can log paths and per-epoch totals.
    ``strict=True`` raises :class:`BadSampleError` naming the file instead.

    Each sample's results hold ``img`` (H, W, 3) uint8 BGR, ``img_path``,
    ``keypoints`` (1, 17, 2) float32 pixels, ``keypoints_visible`` (1, 17)
    float32 scores and ``data_issues``.

    Args:
        data_root (str): Root holding ``images/`` and ``keypoints/``.
        ann_file (str): '' (scan), a CFS ``.pkl`` list or a ``.jsonl`` file.
        data_prefix (dict): Sub-folders ``img_path`` and ``kpt_path``.
        sample_ratio (float | int): Fraction (float in (0, 1]) or number
            (int > 1) of the indexed images to use. Defaults to 1.0 (all).
        sample_seed (int): Seed of the random selection (scan, JSONL).
        strict (bool): Raise on the first bad file instead of skipping it.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments.
    """

    METAINFO = dict(dataset_name='LUPerson keypoints', num_keypoints=17)

    def __init__(self,
                 data_root: str,
                 ann_file: str = '',
                 data_prefix: dict = dict(
                     img_path='images', kpt_path='keypoints'),
                 sample_ratio: Union[float, int] = 1.0,
                 sample_seed: int = 0,
                 strict: bool = False,
                 pipeline: Sequence = (),
                 **kwargs) -> None:
        self.strict = strict
        self.sample_ratio = _check_sample_ratio(sample_ratio)
        self.sample_seed = sample_seed
        self._inline = False
        if not kwargs.pop('serialize_data', True):
            raise ValueError(
                'LUPersonKeypointDataset always keeps its index in compact '
                'arrays; serialize_data=False is not supported')
        data_prefix = dict(dict(img_path='images', kpt_path='keypoints'),
                           **data_prefix)
        # built here so the dataset works without a default scope
        transforms = [
            TRANSFORMS.build(t) if isinstance(t, dict) else t
            for t in pipeline
        ]
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=data_prefix,
            pipeline=transforms,
            serialize_data=True,
            **kwargs)

    # -------------------------------------------------------------- index
    def full_init(self) -> None:
        """Read the index into two arrays (no per-image Python objects).

        ``data_bytes`` (uint8) holds one record per image: its path relative
        to ``images/`` in UTF-8, a NUL byte and, for a JSONL index, its
        (17, 3) float32 keypoints (204 bytes); ``data_address`` (int64)
        holds each record's end offset. This is the layout mmengine's
        ``BaseDataset`` uses for serialized data, so its ``get_subset``,
        ``indices`` and ``__len__`` work unchanged; the image and keypoint
        paths are built per sample in :meth:`get_data_info`.
        """
        if self._fully_initialized:
            return
        img_dir = self.data_prefix['img_path']
        if not osp.isdir(img_dir):
            raise FileNotFoundError(
                f'LUPersonKeypointDataset: image folder {img_dir} not found '
                f"(data_root={self.data_root!r}, expected 'images/' inside)")
        if not self.ann_file:
            # sorted, so that prepare_lup.py draws the same random selection
            self._index_paths(sorted(self._scan(img_dir)),
                              f'a scan of {img_dir}', ordered=False)
        elif self.ann_file.endswith('.pkl'):
            self._index_paths(load_path_list(get_bytes(self.ann_file)),
                              osp.basename(self.ann_file), ordered=True)
        elif self.ann_file.endswith('.jsonl'):
            self._index_jsonl(self.ann_file)
        else:
            raise ValueError(
                f'ann_file {self.ann_file!r}: expected "" (scan images/), a '
                'CFS list .pkl or a .jsonl index')
        if self._indices is not None:
            self.data_bytes, self.data_address = \
                self._get_serialized_subset(self._indices)
        self._fully_initialized = True

    def _select(self, total: int, source: str, ordered: bool) -> np.ndarray:
        keep, how = select_entries(total, self.sample_ratio, self.sample_seed,
                                   ordered, source)
        print_log(
            f'LUPersonKeypointDataset: using {len(keep)} of {total} images '
            f'({how})',
            logger='current')
        return keep

    def _index_paths(self, paths: List[str], source: str,
                     ordered: bool) -> None:
        keep = self._select(len(paths), source, ordered)
        if len(keep) < len(paths):
            paths = ([paths[i] for i in keep] if not ordered else
                     paths[:len(keep)])
        # one string, NUL-separated, './' prefixes dropped: no per-path object
        text = '\0' + '\0'.join(paths) + '\0'
        text = text.replace('\0./', '\0')[1:]
        self.data_bytes = np.frombuffer(
            text.encode('utf-8', 'surrogateescape'), np.uint8)
        self.data_address = np.flatnonzero(self.data_bytes == 0) + 1
        if len(self.data_address) != len(paths):
            raise ValueError(f'{source}: a path holds a NUL character')
        self._inline = False

    def _index_jsonl(self, path: str) -> None:
        lines = [ln for ln in enumerate(
            get_bytes(path).decode('utf-8').splitlines(), 1) if ln[1].strip()]
        keep = self._select(len(lines), osp.basename(path), ordered=False)
        records, wrong = [], []
        for i in keep:
            lineno, line = lines[i]
            try:
                item = json.loads(line)
                rel = item['img_path']
                if not isinstance(rel, str):
                    raise TypeError(f'img_path is {type(rel).__name__}')
                kpts = np.asarray(item['keypoints'], dtype=np.float32)
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(
                    f'{path}:{lineno}: expected {{"img_path": str, '
                    f'"keypoints": [[x, y, score] x 17]}} ({e})') from e
            if kpts.shape != (NUM_KEYPOINTS, 3):
                wrong.append((lineno, rel, kpts.shape))
                continue
            records.append(rel.encode('utf-8', 'surrogateescape') + b'\0' +
                           kpts.tobytes())
        if wrong:
            self._report_wrong_shapes(path, wrong, len(keep))
        if not records:
            raise ValueError(f'LUPersonKeypointDataset: no usable line in '
                             f'{path}')
        self.data_address = np.cumsum([len(r) for r in records],
                                      dtype=np.int64)
        self.data_bytes = np.frombuffer(b''.join(records), np.uint8)
        self._inline = True

    def _report_wrong_shapes(self, path: str, wrong: list,
                             total: int) -> None:
        shown = '; '.join(f'line {n}: {rel} {shape}'
                          for n, rel, shape in wrong[:WRONG_LINES_SHOWN])
        more = (f' (first {WRONG_LINES_SHOWN} shown)'
                if len(wrong) > WRONG_LINES_SHOWN else '')
        msg = (f'{path}: {len(wrong)} of {total} lines have keypoints of the '
               f'wrong shape (expected ({NUM_KEYPOINTS}, 3)){more}: {shown}')
        if self.strict:
            raise BadSampleError(msg)
        print_log(msg + '; their images are left out', logger='current',
                  level=logging.WARNING)

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """``img_path``, ``kpt_path`` (and ``inline_keypoints`` (17, 3)
        for a JSONL index) of sample ``idx``, built from the compact index.
        """
        addr = self.data_address
        if idx < 0:
            idx += len(addr)
        start = int(addr[idx - 1]) if idx else 0
        end = int(addr[idx])
        info = dict(sample_idx=idx)
        if self._inline:
            end -= _KPT_BYTES
            info['inline_keypoints'] = np.frombuffer(
                self.data_bytes[end:end + _KPT_BYTES].tobytes(),
                np.float32).reshape(NUM_KEYPOINTS, 3)
        rel = self.data_bytes[start:end - 1].tobytes().decode(
            'utf-8', 'surrogateescape')
        info['img_path'] = osp.join(self.data_prefix['img_path'], rel)
        info['kpt_path'] = osp.join(self.data_prefix['kpt_path'],
                                    osp.splitext(rel)[0] + '.npy')
        return info

    def load_data_list(self) -> List[dict]:
        """Every sample's :meth:`get_data_info` (slow; for inspection)."""
        return [self.get_data_info(i) for i in range(len(self))]

    @staticmethod
    def _scan(img_dir: str) -> List[str]:
        return scan_files(img_dir)

    # ------------------------------------------------------------ samples
    def _rel(self, path: str) -> str:
        return osp.relpath(path, self.data_root) if self.data_root else path

    def _issue(self, issues: list, kind: str, path: str, msg: str) -> None:
        if self.strict:
            raise BadSampleError(f'{kind} problem in {path}: {msg}')
        issues.append((kind, self._rel(path), msg))

    def _load_image(self, path: str) -> Tuple[Optional[np.ndarray], str]:
        try:
            data = get_bytes(path)
        except OSError as e:
            return None, f'cannot read ({e.__class__.__name__})'
        return decode_image(data)

    def _load_keypoints(self, info: dict, issues: list):
        """(1, 17, 2) coords and (1, 17) scores; zeros on any problem."""
        empty = (np.zeros((1, 17, 2), np.float32), np.zeros((1, 17),
                                                             np.float32))
        path = info['kpt_path']
        try:
            if 'inline_keypoints' in info:
                path = self.ann_file
                arr = keypoints_from_object(info['inline_keypoints'])
            elif not osp.exists(path):
                self._issue(issues, 'keypoints', path, 'missing file')
                return empty
            else:
                arr = keypoints_from_object(safe_load_npy(get_bytes(path)))
        except BadSampleError:
            raise
        except Exception as e:  # any unreadable file is a counted skip
            self._issue(issues, 'keypoints', path,
                        f'unreadable ({e.__class__.__name__}: {e})')
            return empty
        coords, scores, problem = split_keypoints(arr)
        if problem:
            self._issue(issues, 'keypoints', path, problem)
        return coords, scores

    def __getitem__(self, idx: int) -> dict:
        if not self._fully_initialized:
            self.full_init()
        issues: list = []
        for _ in range(self.max_refetch + 1):
            info = self.get_data_info(idx)
            img, err = self._load_image(info['img_path'])
            if img is None:
                self._issue(issues, 'image', info['img_path'], err)
                idx = self._rand_another()
                continue
            keypoints, scores = self._load_keypoints(info, issues)
            info.pop('inline_keypoints', None)
            results = dict(
                info,
                img=img,
                img_shape=img.shape[:2],
                ori_shape=img.shape[:2],
                keypoints=keypoints,
                keypoints_visible=scores,
                data_issues=issues)
            data = self.pipeline(results)
            if data is not None:
                return data
            idx = self._rand_another()
        raise RuntimeError(
            f'LUPersonKeypointDataset: no readable sample after '
            f'{self.max_refetch} retries; last problems: {issues[-5:]}')
