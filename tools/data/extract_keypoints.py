"""Extract 17 COCO keypoints for every person crop under a folder (HAP data).

Each image is one person crop and the whole image is the person box. For an
image ``IMAGES/<rel>.<ext>`` the tool writes the HAP release layout::

    OUT/<rel>.npy    # [[{'keypoints': (17, 3) float32}]]: x, y (image pixels), score

and, with ``--jsonl FILE``, one ``{"img_path": "<rel>.<ext>", "keypoints":
[[x, y, score] x 17]}`` line per crop, which ``LUPersonKeypointDataset``
reads as ``ann_file`` (``img_path`` relative to IMAGES, i.e. to the
dataset's ``images/`` folder).

Backends:

- ``mmpose``: any top-down mmpose config and checkpoint (ViTPose-B in the
  paper); ``--pose-config`` may be a file or ``mmpose::<path under
  mmpose's configs/>``. Batches are built with the config's test pipeline
  (bbox = the whole image) in ``--workers`` loader processes and run through
  the model's ``test_step`` on ``--device``.
- ``mediapipe``: BlazePose (bundled in the mediapipe 0.10.14 wheel, CPU, no
  downloads); its 33 landmarks are mapped to COCO-17 and ``score`` is the
  landmark visibility, 0 for landmarks outside the image.

Crops where no person is found (mediapipe finds none, or no keypoint score
exceeds ``--min-person-score``) get NO output file and are listed as
``no_person`` in the log; ``LUPersonKeypointDataset`` then counts them as
missing keypoint files (block-only masking) and ``tools/data/prepare_lup.py``
leaves them out of its index. Images that cannot be read are listed as
``failed`` and never stop the run. Both kinds are tried again by the next run.

Resumable: an image whose output exists and holds finite (17, 3) keypoints
with a positive score is skipped (``--overwrite`` redoes it); an existing
output that is corrupt (parsed without trusting it to NumPy) is redone and
listed as ``redo`` in the log. Every file is written to a hidden temporary
name (``.NAME.tmp``, which no ``NAME*`` glob matches) and moved into place
(``os.replace``), so an interrupted run never leaves a half-written ``.npy``
or JSONL; the next run removes its leftovers. Loader workers exit when the
tool is killed; file names that are not UTF-8 are logged as ``\\udcXX``.

Sharding: ``--shard i/n`` (or RANK / WORLD_SIZE from torchrun) takes every
n-th image of the sorted list starting at i; each shard writes its own
``.npy`` files, its own JSONL part ``FILE.shard-i-of-n`` and its own log.

    python tools/data/extract_keypoints.py IMAGES OUT --backend mediapipe \\
        --jsonl index.jsonl
    python tools/data/extract_keypoints.py IMAGES OUT --backend mmpose \\
        --pose-config C --pose-checkpoint W --device cuda:0 --batch-size 64 \\
        --shard 0/8

``--reference DIR`` scores the outputs against labelled keypoints in the
same layout (e.g. from ``tools/data/coco_to_release.py``): PCK@``--pck-thr``
over labelled joints of the crops where a person was found.

The last line printed is ``SUMMARY {json}`` (counts, mean score, timings).
"""
import argparse
import functools
import json
import os
import os.path as osp
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from hap_mm.utils import HelpFormatter

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')
NUM_KEYPOINTS = 17
COCO_NAMES = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
    'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
    'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle',
    'right_ankle')
# BlazePose landmark index of each COCO-17 joint (mediapipe's PoseLandmark:
# 0 nose, 2/5 left/right eye, 7/8 ears, 11/12 shoulders, 13/14 elbows,
# 15/16 wrists, 23/24 hips, 25/26 knees, 27/28 ankles; "left" is the
# person's left, as in COCO).
COCO_FROM_BLAZEPOSE = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26,
                       27, 28)
# (kind, image path relative to the image root, message)
Problem = Tuple[str, str, str]


# ------------------------------------------------------------------ inputs
def parse_shard(text: Optional[str],
                env: Optional[Dict[str, str]] = None) -> Tuple[int, int]:
    """``'i/n'`` -> (i, n); without it RANK / WORLD_SIZE, else (0, 1).

    Raises:
        ValueError: malformed text or i outside [0, n).
    """
    env = os.environ if env is None else env
    if text is None:
        if int(env.get('WORLD_SIZE', '1')) > 1:
            text = f"{env.get('RANK', '0')}/{env['WORLD_SIZE']}"
        else:
            return 0, 1
    try:
        index, count = (int(v) for v in text.split('/'))
    except ValueError as e:
        raise ValueError(f'--shard {text!r}: expected i/n, e.g. 0/8') from e
    if count < 1 or not 0 <= index < count:
        raise ValueError(f'--shard {text!r}: need 0 <= i < n')
    return index, count


def shard_suffix(index: int, count: int) -> str:
    """'' for one shard, else ``.shard-i-of-n``."""
    return '' if count == 1 else f'.shard-{index}-of-{count}'


def scan_images(root: str) -> List[str]:
    """Image paths under ``root`` (recursive; symlinked folders followed,
    each folder once), relative to it, sorted."""
    from hap_mm.datasets.image_io import scan_files
    return scan_files(root, IMG_EXTENSIONS)


def read_list_file(path: str) -> List[str]:
    """Paths from a text list (one per line, '#' comments) or a pickled
    list (``.pkl``, e.g. the release's CFS_list.pkl, read safely)."""
    if path.endswith('.pkl'):
        from hap_mm.datasets.keypoint_io import load_path_list
        with open(path, 'rb') as f:
            return load_path_list(f.read())
    with open(path, encoding='utf-8') as f:
        return [
            line.split('#', 1)[0].strip() for line in f
            if line.split('#', 1)[0].strip()
        ]


def list_images(source: str,
                image_root: Optional[str] = None) -> Tuple[str, List[str]]:
    """The image root and the sorted, de-duplicated relative paths.

    Args:
        source: an image folder (scanned recursively) or a list file
            (``.txt`` one path per line, or ``.pkl``).
        image_root: what list paths are relative to; defaults to the list
            file's folder. Ignored for a folder.

    Raises:
        FileNotFoundError: ``source`` does not exist.
        ValueError: a listed path leaves the image root; the message names
            the list file and the path.
    """
    if osp.isdir(source):
        return source, scan_images(source)
    if not osp.isfile(source):
        raise FileNotFoundError(f'{source}: no such image folder or list file')
    root = image_root or osp.dirname(osp.abspath(source))
    rels = set()
    for entry in read_list_file(source):
        full = entry if osp.isabs(entry) else osp.join(root, entry)
        rel = osp.relpath(full, root)
        if rel.startswith('..'):
            raise ValueError(f'{source}: {entry!r} is outside the image root '
                             f'{root} (pass --image-root)')
        rels.add(rel)
    return root, sorted(rels)


def output_path(out: str, rel: str) -> str:
    """``OUT/<rel without extension>.npy``."""
    return osp.join(out, osp.splitext(rel)[0] + '.npy')


# ---------------------------------------------------------------- outputs
def check_output(path: str) -> Tuple[Optional[np.ndarray], str]:
    """(keypoints, '') if ``path`` is a usable output, else (``None``, why).

    Usable: readable by the safe parser (a corrupt file is never handed to
    NumPy unchecked), (17, 3), finite, at least one positive score. The
    reason is '' for a missing file.
    """
    from hap_mm.datasets.keypoint_io import keypoints_from_object, safe_load_npy
    try:
        with open(path, 'rb') as f:
            kpts = keypoints_from_object(safe_load_npy(f.read()))
    except FileNotFoundError:
        return None, ''
    except Exception as e:  # any unreadable file is redone, never trusted
        return None, f'unreadable ({e.__class__.__name__}: {e})'
    if not np.isfinite(kpts).all():
        return None, 'non-finite keypoints'
    if not (kpts[:, 2] > 0).any():
        return None, 'every keypoint score is zero'
    return kpts, ''


def load_valid_keypoints(path: str) -> Optional[np.ndarray]:
    """The (17, 3) float32 keypoints of ``path`` if it is a usable output
    (see :func:`check_output`), else ``None``."""
    return check_output(path)[0]


def release_object(kpts: np.ndarray) -> np.ndarray:
    """(17, 3) -> the release's (1, 1) object array ``[[{'keypoints': ...}]]``."""
    obj = np.empty((1, 1), dtype=object)
    obj[0, 0] = {'keypoints': np.asarray(kpts, np.float32)}
    return obj


def temp_path(path: str) -> str:
    """``DIR/.NAME.tmp``: where ``path`` is written before it is moved into
    place. Hidden and fixed per file, so it never matches ``NAME*`` globs
    and the next run that handles ``path`` replaces or removes a leftover."""
    return osp.join(osp.dirname(path), f'.{osp.basename(path)}.tmp')


def remove_stale_temp(path: str) -> None:
    """Remove what an interrupted run left at :func:`temp_path` of ``path``."""
    try:
        os.remove(temp_path(path))
    except FileNotFoundError:
        pass


def save_keypoints(path: str, kpts: np.ndarray) -> None:
    """Write (17, 3) keypoints in release format, atomically."""
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    tmp = temp_path(path)
    with open(tmp, 'wb') as f:
        np.save(f, release_object(kpts), allow_pickle=True)
    os.replace(tmp, path)


def jsonl_line(rel: str, kpts: np.ndarray) -> str:
    """One index line; x, y rounded to 0.01 px, score to 1e-4."""
    rows = [[round(float(x), 2), round(float(y), 2), round(float(s), 4)]
            for x, y, s in kpts]
    return json.dumps({'img_path': rel, 'keypoints': rows}) + '\n'


class AtomicTextFile:
    """A text file written under a temporary name, moved into place by
    :meth:`commit`; :meth:`close` without commit removes it."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        self.tmp = temp_path(path)  # truncates an interrupted run's leftover
        self.f = open(self.tmp, 'w', encoding='utf-8')

    def write(self, text: str) -> None:
        self.f.write(text)

    def commit(self) -> None:
        self.f.close()
        os.replace(self.tmp, self.path)

    def close(self) -> None:
        if not self.f.closed:
            self.f.close()
            os.remove(self.tmp)


# ----------------------------------------------------------------- images
def decode_image(path: str) -> Tuple[Optional[np.ndarray], str]:
    """(H, W, 3) uint8 BGR and '' or ``None`` and why it is unreadable.

    Same rules as ``LUPersonKeypointDataset``
    (:func:`hap_mm.datasets.image_io.decode_image`): empty files, truncated
    JPEGs, undecodable bytes and any decoder exception make it unreadable.
    """
    from hap_mm.datasets.image_io import read_image
    return read_image(path)


class CropDataset:
    """Items of one shard for a ``torch.utils.data.DataLoader``.

    Each item is a dict with ``index``, ``rel`` and one of ``done``
    ((17, 3) keypoints of a valid existing output), ``error`` (str) or
    ``inputs`` (whatever the backend's ``prepare`` made of the image);
    ``redo`` (str) says why an existing output is being replaced. Runs in
    the loader workers, so checking outputs and decoding images are
    parallel; a temporary file an interrupted run left for this output is
    removed here.
    """

    def __init__(self, root: str, rels: Sequence[str], out: str,
                 overwrite: bool, prepare) -> None:
        self.root, self.rels, self.out = root, list(rels), out
        self.overwrite, self.prepare = overwrite, prepare

    def __len__(self) -> int:
        return len(self.rels)

    def __getitem__(self, index: int) -> dict:
        rel = self.rels[index]
        item: Dict[str, Any] = dict(index=index, rel=rel)
        out = output_path(self.out, rel)
        remove_stale_temp(out)
        if not self.overwrite:
            done, why = check_output(out)
            if done is not None:
                item['done'] = done
                return item
            if why:
                item['redo'] = why
        img, err = decode_image(osp.join(self.root, rel))
        if img is None:
            item['error'] = err
            return item
        item['hw'] = img.shape[:2]
        try:
            item['inputs'] = self.prepare(img, osp.join(self.root, rel))
        except Exception as e:  # a pipeline failure is this image's problem
            item['error'] = f'preprocessing failed ({e.__class__.__name__}: {e})'
        return item


def _keep_list(batch: list) -> list:
    return batch


def exit_with_parent(worker_id: int, parent: int) -> None:
    """Make this (loader worker) process end when process ``parent`` does.

    A worker whose parent was killed can block for ever flushing a batch
    into a pipe nobody reads (about 780 MB each with ViTPose inputs). On
    Linux the kernel sends SIGKILL on the parent's death
    (``prctl(PR_SET_PDEATHSIG)``); elsewhere a daemon thread checks the
    parent's pid every second. ``worker_init_fn`` of the loader, with
    ``parent`` bound to the loader's process.
    """
    if sys.platform.startswith('linux'):
        import ctypes
        import signal
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGKILL, 0, 0, 0) == 0:  # PR_SET_PDEATHSIG
            if os.getppid() != parent:  # the parent died before prctl
                os._exit(1)
            return

    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name='parent-watch').start()


def iterate_batches(dataset: CropDataset, batch_size: int,
                    workers: int) -> Iterator[List[dict]]:
    """Batches of dataset items in order; ``workers`` loader processes,
    which exit when this process goes away (:func:`exit_with_parent`)."""
    from torch.utils.data import DataLoader
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=_keep_list,
        worker_init_fn=(functools.partial(exit_with_parent, parent=os.getpid())
                        if workers > 0 else None),
        prefetch_factor=4 if workers > 0 else None,
        persistent_workers=False)
    yield from loader


# --------------------------------------------------------------- backends
class MediaPipeBackend:
    """BlazePose (mediapipe 0.10.14, CPU): one image at a time.

    Args:
        model_complexity: 0, 1 or 2; 1 is bundled in the wheel (0 and 2 may
            need a download and are refused here).
        min_detection_confidence: BlazePose's person detector threshold.
    """

    def __init__(self, model_complexity: int = 1,
                 min_detection_confidence: float = 0.5) -> None:
        os.environ.setdefault('GLOG_minloglevel', '2')
        try:
            import mediapipe as mp
        except ImportError as e:
            raise SystemExit(
                'the mediapipe backend needs mediapipe==0.10.14 and '
                'opencv-contrib-python==4.11.0.86 '
                '(pip install -r requirements/optional.txt)') from e
        if model_complexity != 1:
            raise SystemExit('only model_complexity=1 ships with the '
                             'mediapipe wheel; other models need a download')
        self.pose = mp.solutions.pose.Pose(
            static_image_mode=True,
            model_complexity=model_complexity,
            min_detection_confidence=min_detection_confidence)

    @staticmethod
    def prepare(img: np.ndarray, path: str) -> np.ndarray:
        """BGR (H, W, 3) -> contiguous RGB (H, W, 3) uint8."""
        return np.ascontiguousarray(img[:, :, ::-1])

    def predict(self, batch: List[np.ndarray]) -> List[Optional[np.ndarray]]:
        """RGB images -> (17, 3) x, y (pixels), visibility, or ``None``."""
        return [self._one(rgb) for rgb in batch]

    def _one(self, rgb: np.ndarray) -> Optional[np.ndarray]:
        result = self.pose.process(rgb)
        if result.pose_landmarks is None:
            return None
        h, w = rgb.shape[:2]
        lms = result.pose_landmarks.landmark
        return np.array([[lms[i].x * w, lms[i].y * h, lms[i].visibility]
                         for i in COCO_FROM_BLAZEPOSE], np.float32)


def clean_scores(kpts: np.ndarray, h: int, w: int) -> np.ndarray:
    """Scores clipped to >= 0 and set to 0 for keypoints outside the (h, w)
    image (a joint outside the crop is not visible in it); (17, 3) in/out."""
    inside = ((kpts[:, 0] >= 0) & (kpts[:, 0] < w) & (kpts[:, 1] >= 0)
              & (kpts[:, 1] < h))
    kpts = kpts.copy()
    kpts[:, 2] = np.where(inside, np.maximum(kpts[:, 2], 0), 0)
    return kpts


def resolve_config(path: str) -> str:
    """``pkg::rel`` -> ``<installed pkg>/.mim/configs/rel``; files as is."""
    if '::' not in path:
        if not osp.isfile(path):
            raise SystemExit(f'--pose-config {path}: no such file')
        return path
    package, rel = path.split('::', 1)
    from mmengine.utils import get_installed_path
    try:
        root = get_installed_path(package)
    except Exception as e:
        raise SystemExit(f'--pose-config {path}: {package} is not installed') from e
    full = osp.join(root, '.mim', 'configs', rel)
    if not osp.isfile(full):
        raise SystemExit(f'--pose-config {path}: {full} does not exist')
    return full


class TopdownInputs:
    """The model's test pipeline on a whole-image box; runs in the loader
    workers and holds no model.

    Args:
        pipeline: the config's test pipeline (``LoadImage`` uses ``img``).
        meta: the model's ``dataset_meta`` (flip indices etc.).
    """

    def __init__(self, pipeline, meta: dict) -> None:
        self.pipeline, self.meta = pipeline, meta

    def __call__(self, img: np.ndarray, path: str) -> dict:
        """BGR (H, W, 3) uint8 -> packed dict with ``inputs`` (3, h, w) and
        ``data_samples``; box = (0, 0, W, H)."""
        h, w = img.shape[:2]
        info = dict(
            img=img,
            img_path=path,
            bbox=np.array([[0, 0, w, h]], np.float32),
            bbox_score=np.ones(1, np.float32))
        info.update(self.meta)
        return self.pipeline(info)


class MMPoseBackend:
    """A top-down mmpose model on whole-image boxes, batched.

    Args:
        config: mmpose config file (``mmpose::...`` allowed).
        checkpoint: weights; ``None`` keeps the random initialisation
            (tests and timing only).
        device: torch device string.
    """

    def __init__(self, config: str, checkpoint: Optional[str], device: str,
                 cfg_options: Optional[dict] = None) -> None:
        try:
            from mmpose.apis import init_model
            from mmpose.models import TopdownPoseEstimator
        except ImportError as e:
            raise SystemExit('the mmpose backend needs mmpose '
                             '(pip install -r requirements/optional.txt)') from e
        from mmcv.transforms import Compose
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        cfg = Config.fromfile(resolve_config(config))
        # never fetch the backbone's pre-training weights: the checkpoint
        # (or nothing, for tests) provides every weight
        if cfg.model.get('backbone', {}).get('init_cfg') is not None:
            cfg.model.backbone.init_cfg = None
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        if checkpoint is not None and not osp.isfile(checkpoint):
            raise SystemExit(f'--pose-checkpoint {checkpoint}: no such file')
        self.model = init_model(cfg, checkpoint, device=device)
        if not isinstance(self.model, TopdownPoseEstimator):
            raise SystemExit(f'{config}: {type(self.model).__name__} is not a '
                             'top-down pose estimator')
        meta = dict(self.model.dataset_meta)
        self._check_coco_order(meta, config)
        init_default_scope(self.model.cfg.get('default_scope', 'mmpose'))
        self.prepare = TopdownInputs(
            Compose(self._test_pipeline(self.model.cfg, config)), meta)

    @staticmethod
    def _test_pipeline(cfg, config: str) -> list:
        for key in ('test_dataloader', 'val_dataloader'):
            loader = cfg.get(key)
            if loader and loader.get('dataset', {}).get('pipeline'):
                return loader['dataset']['pipeline']
        raise SystemExit(f'{config}: no test_dataloader.dataset.pipeline')

    @staticmethod
    def _check_coco_order(meta: dict, config: str) -> None:
        names = meta.get('keypoint_id2name', {})
        got = tuple(names[i] for i in sorted(names))
        if got != COCO_NAMES:
            raise SystemExit(
                f'{config}: the model predicts {len(got)} keypoints '
                f'{got[:5]}...; HAP needs the 17 COCO keypoints in COCO order')

    def predict(self, batch: List[dict]) -> List[Optional[np.ndarray]]:
        """Packed dicts -> (17, 3) x, y (image pixels), score per image."""
        import torch
        from mmengine.dataset import pseudo_collate
        with torch.no_grad():
            samples = self.model.test_step(pseudo_collate(batch))
        out = []
        for s in samples:
            xy = np.asarray(s.pred_instances.keypoints[0], np.float32)
            score = np.asarray(s.pred_instances.keypoint_scores[0], np.float32)
            out.append(np.concatenate([xy, score[:, None]], 1))
        return out


def default_device(env: Optional[Dict[str, str]] = None) -> str:
    """cuda:LOCAL_RANK when CUDA is available, else cpu."""
    import torch
    env = os.environ if env is None else env
    if torch.cuda.is_available():
        return f"cuda:{env.get('LOCAL_RANK', '0')}"
    return 'cpu'


def build_backend(args: argparse.Namespace):
    if args.backend == 'mediapipe':
        return MediaPipeBackend()
    if not args.pose_config:
        raise SystemExit('--backend mmpose needs --pose-config')
    if args.pose_checkpoint is None:
        print('warning: no --pose-checkpoint, the model keeps its random '
              'initialisation (only useful for tests and timing)')
    device = default_device() if args.device == 'auto' else args.device
    return MMPoseBackend(args.pose_config, args.pose_checkpoint, device,
                         args.cfg_options)


# -------------------------------------------------------------- reference
def pck_hits(pred: np.ndarray, ref: np.ndarray, hw: Tuple[int, int],
             thr: float) -> Tuple[int, int]:
    """(correct, labelled) joints of one crop.

    A joint is labelled when its reference score is > 0 and correct when
    the distance, with x divided by the crop width and y by its height (as
    mmpose's PCK with the box = the crop), is below ``thr``.

    Args:
        pred, ref: (17, 3) x, y, score in crop pixels.
        hw: crop height and width in pixels.
    """
    h, w = hw
    labelled = ref[:, 2] > 0
    d = np.hypot((pred[labelled, 0] - ref[labelled, 0]) / w,
                 (pred[labelled, 1] - ref[labelled, 1]) / h)
    return int((d < thr).sum()), int(labelled.sum())


def compare_with_reference(root: str, rels: Sequence[str], out: str,
                           reference: str, thr: float) -> Dict[str, Any]:
    """PCK@thr of the outputs against reference keypoints (release layout).

    Crops without an output (failed, no person) or without a reference file
    are left out and counted.
    """
    from PIL import Image
    hits = joints = images = missing_ref = 0
    for rel in rels:
        pred = load_valid_keypoints(output_path(out, rel))
        if pred is None:
            continue
        ref_path = output_path(reference, rel)
        if not osp.exists(ref_path):
            missing_ref += 1
            continue
        ref = load_valid_keypoints(ref_path)
        if ref is None:
            raise SystemExit(f'--reference: {ref_path} holds no usable '
                             'keypoints')
        with Image.open(osp.join(root, rel)) as im:
            w, h = im.size
        correct, labelled = pck_hits(pred, ref, (h, w), thr)
        hits, joints, images = hits + correct, joints + labelled, images + 1
    return dict(
        pck=hits / joints if joints else None,
        pck_thr=thr,
        pck_images=images,
        pck_joints=joints,
        pck_missing_reference=missing_ref)


# -------------------------------------------------------------------- run
class Tally:
    """Counts, problems and score sums of one run."""

    def __init__(self, log) -> None:
        self.counts = dict(processed=0, skipped=0, failed=0, no_person=0)
        self.score_sum = 0.0
        self.score_n = 0
        self.model_seconds = 0.0
        self.model_batches = 0
        self.log = log

    def problem(self, kind: str, rel: str, msg: str) -> None:
        """Count ``kind`` (when counted) and log the line; file-name bytes
        that are not UTF-8 are logged as ``\\udcXX``."""
        from hap_mm.datasets.image_io import printable
        if kind in self.counts:
            self.counts[kind] += 1
        self.log.write(printable(f'{kind}\t{rel}\t{msg}\n'))

    def keypoints(self, kind: str, kpts: np.ndarray) -> None:
        self.counts[kind] += 1
        self.score_sum += float(kpts[:, 2].mean())
        self.score_n += 1


def handle_batch(batch: List[dict], backend, args, tally: Tally,
                 jsonl: Optional[AtomicTextFile], writer) -> None:
    """Run the model on a batch's new images, write outputs, count all.

    ``writer`` (a thread pool) writes the batch's files in parallel; the
    batch is finished when they are all in place.
    """
    todo = [item for item in batch if 'inputs' in item]
    preds: Dict[int, Optional[np.ndarray]] = {}
    if todo:
        start = time.perf_counter()
        results = backend.predict([item['inputs'] for item in todo])
        tally.model_seconds += time.perf_counter() - start
        tally.model_batches += 1
        preds = {item['index']: kpts for item, kpts in zip(todo, results)}
    saves = []
    for item in batch:
        rel = item['rel']
        if 'redo' in item:
            tally.problem('redo', rel, 'existing output replaced: ' +
                          item['redo'])
        if 'error' in item:
            tally.problem('failed', rel, item['error'])
            continue
        if 'done' in item:
            kpts = item['done']
            tally.keypoints('skipped', kpts)
        else:
            kpts = preds[item['index']]
            if kpts is not None and not np.isfinite(kpts).all():
                tally.problem('failed', rel, 'non-finite keypoints predicted')
                continue
            if kpts is not None:
                kpts = clean_scores(kpts, *item['hw'])
            if kpts is None or not (kpts[:, 2] > args.min_person_score).any():
                tally.problem('no_person', rel, 'no person found')
                continue
            saves.append(
                writer.submit(save_keypoints, output_path(args.out, rel), kpts))
            tally.keypoints('processed', kpts)
        if jsonl is not None:
            jsonl.write(jsonl_line(rel, kpts))
    for future in saves:
        future.result()  # re-raises a failed write (disk full, permissions)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=HelpFormatter,
        epilog='See docs/data_preparation.md.')
    parser.add_argument(
        'images',
        help='The image folder (recursive) or a list file (.txt, .pkl).')
    parser.add_argument('out', help='The keypoint folder (release layout).')
    parser.add_argument(
        '--backend', choices=('mmpose', 'mediapipe'), required=True,
        help='The keypoint model: a top-down mmpose model or BlazePose '
        '(mediapipe, CPU).')
    parser.add_argument(
        '--image-root',
        help='What the paths of a list file are relative to (default: the '
        "list file's folder).")
    parser.add_argument(
        '--jsonl',
        help='Also write a JSONL index (img_path relative to IMAGES); a '
        'shard writes FILE.shard-i-of-n.')
    parser.add_argument(
        '--pose-config',
        help='The top-down mmpose config (file or mmpose::<path in its '
        'configs>).')
    parser.add_argument('--pose-checkpoint', help='The mmpose checkpoint.')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='Override pose config settings, e.g. '
        'model.test_cfg.flip_test=False (about half the GPU time).')
    parser.add_argument(
        '--device',
        default='auto',
        help='The torch device for mmpose, e.g. cpu or cuda:0 (auto: '
        'cuda:LOCAL_RANK if CUDA is available, else cpu).')
    parser.add_argument(
        '--batch-size', type=int, default=64,
        help='Images per model batch.')
    parser.add_argument(
        '--workers',
        type=int,
        default=min(8, os.cpu_count() or 1),
        help='Loader processes that check outputs and decode images '
        '(0: in the main process; by default one per CPU, at most 8).')
    parser.add_argument(
        '--shard',
        help='Shard i/n: take images i, i+n, i+2n, ... of the sorted list '
        '(default: RANK/WORLD_SIZE under torchrun, else all).')
    parser.add_argument(
        '--min-person-score',
        type=float,
        default=0.0,
        help='Report "no person" when no keypoint score exceeds this.')
    parser.add_argument(
        '--reference',
        help='The keypoint folder (release layout) to score the outputs '
        'against at the end: PCK of labelled joints, distances normalised '
        "by the crop's width and height (e.g. the keypoints/ of "
        'coco_to_release.py).')
    parser.add_argument(
        '--pck-thr', type=float, default=0.2, help='The PCK threshold.')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='Redo images whose output already exists.')
    parser.add_argument(
        '--log',
        help='The problem log, one "kind<TAB>path<TAB>message" line per '
        'failed or no-person image (default: OUT/extract_keypoints.log; a '
        'shard adds .shard-i-of-n).')
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error('--batch-size must be >= 1')
    if args.workers < 0:
        parser.error('--workers must be >= 0')
    return args


def summary_dict(tally: Tally, total: int, seconds: float, args,
                 shard: Tuple[int, int]) -> Dict[str, Any]:
    """The final report as a dict (also printed as ``SUMMARY {json}``)."""
    n_model = tally.counts['processed'] + tally.counts['no_person']
    return dict(
        tally.counts,
        total=total,
        shard=f'{shard[0]}/{shard[1]}',
        mean_score=(tally.score_sum / tally.score_n) if tally.score_n else None,
        seconds=round(seconds, 3),
        images_per_second=round(total / seconds, 2) if seconds else None,
        model_batches=tally.model_batches,
        model_seconds_per_batch=(round(tally.model_seconds /
                                       tally.model_batches, 4)
                                 if tally.model_batches else None),
        model_ms_per_image=(round(1000 * tally.model_seconds / n_model, 2)
                            if n_model else None),
        log=args.log,
        jsonl=args.jsonl_part)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    for stream in (sys.stdout, sys.stderr):  # non-UTF-8 file names
        if hasattr(stream, 'reconfigure'):
            stream.reconfigure(errors='backslashreplace')
    try:
        shard = parse_shard(args.shard)
        root, rels = list_images(args.images, args.image_root)
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(str(e)) from e
    if not rels:
        raise SystemExit(f'{args.images}: no images found')
    # a shard may be empty (more shards than images): it writes empty parts
    mine = rels[shard[0]::shard[1]]
    suffix = shard_suffix(*shard)
    args.log = (args.log or osp.join(args.out, 'extract_keypoints.log')) + suffix
    args.jsonl_part = args.jsonl + suffix if args.jsonl else None
    print(f'{len(rels)} images under {root}; shard {shard[0]}/{shard[1]} '
          f'takes {len(mine)}; backend {args.backend}')

    backend = build_backend(args)
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(osp.dirname(osp.abspath(args.log)), exist_ok=True)
    dataset = CropDataset(root, mine, args.out, args.overwrite,
                          backend.prepare)
    from mmengine.utils import ProgressBar

    jsonl = AtomicTextFile(args.jsonl_part) if args.jsonl_part else None
    start = time.perf_counter()
    with open(args.log, 'w', encoding='utf-8') as log, \
            ThreadPoolExecutor(4, thread_name_prefix='write') as writer:
        tally = Tally(log)
        bar = ProgressBar(len(mine))
        try:
            for batch in iterate_batches(dataset, args.batch_size, args.workers):
                handle_batch(batch, backend, args, tally, jsonl, writer)
                log.flush()
                bar.update(len(batch))
        except BaseException:
            if jsonl is not None:
                jsonl.close()
            raise
    if jsonl is not None:
        jsonl.commit()
    seconds = time.perf_counter() - start
    summary = summary_dict(tally, len(mine), seconds, args, shard)
    if args.reference:
        summary.update(
            compare_with_reference(root, mine, args.out, args.reference,
                                   args.pck_thr))
    c = tally.counts
    mean = summary['mean_score']
    print(f"\nprocessed {c['processed']}, skipped (already done) "
          f"{c['skipped']}, failed {c['failed']}, no person {c['no_person']} "
          f'of {len(mine)} in {seconds:.1f} s; mean keypoint score '
          f"{'n/a' if mean is None else f'{mean:.3f}'}; problems listed in "
          f'{args.log}')
    if summary.get('pck') is not None:
        print(f"PCK@{args.pck_thr} against {args.reference}: "
              f"{summary['pck']:.3f} ({summary['pck_joints']} labelled joints "
              f"in {summary['pck_images']} crops with a person found)")
    print('SUMMARY ' + json.dumps(summary), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
