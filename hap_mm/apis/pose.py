"""Top-down 2-D pose on whole images: mmpose's ``MMPoseInferencer`` with a
hap_mm pose config and an mmdet person detector, built so that hap_mm's
configs and training checkpoints load and a checkpoint of another config is
an error, not a warning."""
import os.path as osp
from typing import List, Sequence, Tuple, Union

import numpy as np
import torch

from hap_mm.models.utils.checkpoint import (
    CHECKPOINT_SAFE_GLOBALS,
    CheckpointLoadError,
    extract_state_dict,
    load_checkpoint_file,
)

from .inference import ImageInput, _load_config, check_state_dict, load_image


def _pose_config(config):
    """The pose config with ``test_dataloader.collate_fn`` as the name
    mmengine's inferencers look up (hap_mm's pose configs spell it
    ``dict(type='pseudo_collate')`` for tools/train.py)."""
    cfg = _load_config(config)
    loader = cfg.get('test_dataloader')
    collate = loader.get('collate_fn') if loader is not None else None
    if isinstance(collate, dict):
        if set(collate) != {'type'}:
            raise ValueError(
                f'{config}: test_dataloader.collate_fn {dict(collate)} has '
                'arguments; mmpose\'s inferencer takes only a function name')
        loader.collate_fn = collate['type']
    if cfg.get('data_mode') != 'topdown':
        raise ValueError(f'{config} is not a top-down pose config '
                         f"(data_mode {cfg.get('data_mode')!r})")
    return cfg


def _state_dict(path: str) -> dict:
    state = extract_state_dict(load_checkpoint_file(path))
    if not isinstance(state, dict):
        raise CheckpointLoadError(f'checkpoint {path} holds no state dict')
    return state


def init_pose_inferencer(config,
                         checkpoint: str,
                         det_config: str,
                         det_checkpoint: str,
                         det_cat_ids: Union[int, Sequence[int]] = (0, ),
                         device: str = 'cpu'):
    """mmpose's ``MMPoseInferencer`` for a hap_mm top-down pose config and
    an mmdet detector.

    The inferencer loads both checkpoints itself (with hap_mm's allowed
    list of mmengine objects, so training checkpoints load with
    ``weights_only=True``) and would only warn about keys that do not fit;
    here the pose checkpoint must fit its config exactly and the detector's
    must give every key of its model with the right shape (extra keys, e.g.
    of an EMA copy, and missing BatchNorm ``num_batches_tracked`` counters
    are allowed).

    Args:
        config (str | Config): A hap_mm top-down pose config (e.g.
            ``configs/downstream/pose/td-hm_hapvit-b_8xb64-210e_coco-256x192.py``).
        checkpoint (str): A checkpoint of that config.
        det_config (str): An mmdet config file.
        det_checkpoint (str): A checkpoint of the detector.
        det_cat_ids (int | sequence of int): Detector classes that are
            persons (0 for COCO and person-only detectors).
        device (str): Where both models run.

    Raises:
        FileNotFoundError: a missing config.
        ValueError: not a top-down pose config.
        CheckpointLoadError: a checkpoint that is missing, unreadable or
            does not fit its config (naming the file and the first bad
            keys).
    """
    from mmpose.apis import MMPoseInferencer
    cfg = _pose_config(config)
    if not osp.isfile(det_config):
        raise FileNotFoundError(f'detector config {det_config} not found')
    pose_state = _state_dict(checkpoint)
    det_state = _state_dict(det_checkpoint)
    if isinstance(det_cat_ids, int):
        det_cat_ids = (det_cat_ids, )
    with torch.serialization.safe_globals(CHECKPOINT_SAFE_GLOBALS):
        inferencer = MMPoseInferencer(
            pose2d=cfg, pose2d_weights=checkpoint, det_model=det_config,
            det_weights=det_checkpoint, det_cat_ids=tuple(det_cat_ids),
            device=device)
    check_state_dict(inferencer.inferencer.model, pose_state, checkpoint)
    detector = inferencer.inferencer.detector.model
    # BatchNorm's batch counter (absent from some released checkpoints)
    # plays no part in inference
    counters = {
        k: v
        for k, v in detector.state_dict().items()
        if k.endswith('num_batches_tracked')
    }
    check_state_dict(detector, {**counters, **det_state}, det_checkpoint,
                     allow_unexpected=True)
    return inferencer


def keypoint_names(inferencer) -> List[str]:
    """The pose model's keypoint names, in order (its ``dataset_meta``:
    the checkpoint's, else the config's dataset)."""
    meta = inferencer.inferencer.model.dataset_meta
    id2name = meta['keypoint_id2name']
    return [id2name[i] for i in range(meta['num_keypoints'])]


def estimate_poses(inferencer,
                   image: ImageInput,
                   bbox_thr: float = 0.3,
                   nms_thr: float = 0.3,
                   kpt_thr: float = 0.3,
                   draw_bbox: bool = True) -> Tuple[List[dict], np.ndarray]:
    """The persons of one image and its picture.

    mmpose's top-down inference: the detector's boxes of ``det_cat_ids``
    scoring above ``bbox_thr``, NMS at ``nms_thr``, one pose per box. When
    no box is left, mmpose estimates ONE pose over the whole image (its box
    is the image, ``bbox_score`` 1).

    Args:
        inferencer: From :func:`init_pose_inferencer`.
        image (str | np.ndarray): A path or an (H, W, 3) uint8 BGR array.
        bbox_thr, nms_thr (float): Detection score threshold, box NMS IoU.
        kpt_thr (float): Keypoints scoring at or below this are not drawn
            (they are all in the returned instances).
        draw_bbox (bool): Draw the boxes.

    Returns:
        (instances: per person ``bbox`` [x1, y1, x2, y2] and ``keypoints``
        (K x [x, y]) in image pixels, ``bbox_score``, ``keypoint_scores``
        (K); the picture (H, W, 3) BGR with the skeletons).

    Raises:
        FileNotFoundError / ValueError: a missing or undecodable image.
    """
    img = load_image(image)
    result = next(inferencer(
        img, return_datasamples=True, return_vis=True, bbox_thr=bbox_thr,
        nms_thr=nms_thr, kpt_thr=kpt_thr, draw_bbox=draw_bbox))
    pred = result['predictions'][0].pred_instances
    instances = [
        dict(bbox=[float(v) for v in bbox],
             bbox_score=float(np.asarray(score).reshape(-1)[0]),
             keypoints=np.asarray(kpts, np.float64).tolist(),
             keypoint_scores=np.asarray(scores, np.float64).tolist())
        for bbox, score, kpts, scores in zip(
            pred.bboxes, pred.bbox_scores, pred.keypoints,
            pred.keypoint_scores)
    ]
    picture = np.ascontiguousarray(result['visualization'][0][..., ::-1])
    return instances, picture
