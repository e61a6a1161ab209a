"""Person crops with 17 COCO keypoints each (LUPerson, HAP release layout)."""
import json
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.fileio import get as get_bytes
from mmengine.logging import print_log
from mmpretrain.registry import DATASETS, TRANSFORMS

from .image_io import decode_image, scan_files
from .keypoint_io import (
    keypoints_from_object,
    load_path_list,
    safe_load_npy,
    split_keypoints,
)


class BadSampleError(RuntimeError):
    """A sample could not be read and the dataset is ``strict``."""


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
        strict (bool): Raise on the first bad file instead of skipping it.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments.
    """

    METAINFO = dict(dataset_name='LUPerson keypoints', num_keypoints=17)

    def __init__(self,
                 data_root: str,
                 ann_file: str = '',
                 data_prefix: dict = dict(
                     img_path='images', kpt_path='keypoints'),
                 strict: bool = False,
                 pipeline: Sequence = (),
                 **kwargs) -> None:
        self.strict = strict
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
            **kwargs)

    # -------------------------------------------------------------- index
    def load_data_list(self) -> List[dict]:
        img_dir = self.data_prefix['img_path']
        if not osp.isdir(img_dir):
            raise FileNotFoundError(
                f'LUPersonKeypointDataset: image folder {img_dir} not found '
                f"(data_root={self.data_root!r}, expected 'images/' inside)")
        if not self.ann_file:
            entries = [(p, None) for p in self._scan(img_dir)]
            source = f'scan of {img_dir}'
        elif self.ann_file.endswith('.pkl'):
            entries = [(p.removeprefix('./'), None)
                       for p in load_path_list(get_bytes(self.ann_file))]
            source = self.ann_file
        elif self.ann_file.endswith('.jsonl'):
            entries = self._read_jsonl(self.ann_file)
            source = self.ann_file
        else:
            raise ValueError(
                f'ann_file {self.ann_file!r}: expected "" (scan images/), a '
                'CFS list .pkl or a .jsonl index')
        if not entries:
            raise ValueError(f'LUPersonKeypointDataset: no images in {source}')
        data_list = []
        for rel, kpts in entries:
            info = dict(
                img_path=osp.join(img_dir, rel),
                kpt_path=osp.join(self.data_prefix['kpt_path'],
                                  osp.splitext(rel)[0] + '.npy'))
            if kpts is not None:
                info['inline_keypoints'] = kpts
            data_list.append(info)
        print_log(
            f'LUPersonKeypointDataset: {len(data_list)} images from {source}',
            logger='current')
        return data_list

    @staticmethod
    def _scan(img_dir: str) -> List[str]:
        return scan_files(img_dir)

    @staticmethod
    def _read_jsonl(path: str) -> List[Tuple[str, np.ndarray]]:
        entries = []
        text = get_bytes(path).decode('utf-8')
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                kpts = np.asarray(item['keypoints'], dtype=np.float32)
                entries.append((item['img_path'], kpts))
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(
                    f'{path}:{lineno}: expected {{"img_path": str, '
                    f'"keypoints": [[x, y, score] x 17]}} ({e})') from e
        return entries

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
