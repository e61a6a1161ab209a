"""Collate that makes a whole batch's HAP masks in one vectorised call."""
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.dataset import default_collate
from mmengine.registry import FUNCTIONS
from mmpretrain.registry import TRANSFORMS

from .transforms.keypoint_utils import count_usable_keypoints
from .transforms.part_aware_mask_generator import read_keypoints

MASK_GENERATOR = 'PartAwareMaskGenerator'
# metadata only the mask generator reads: dropped after masking
KEYPOINT_META = ('keypoints', 'keypoints_visible')
# one built generator per config, per process (data workers included)
_generators: dict = {}


def build_mask_generator(cfg: dict):
    """Build (once per process) the ``PartAwareMaskGenerator`` of ``cfg``."""
    key = repr(sorted(cfg.items()))
    if key not in _generators:
        _generators[key] = TRANSFORMS.build(dict(cfg))
    return _generators[key]


@FUNCTIONS.register_module()
def hap_collate(data_batch: Sequence[dict],
                mask_generator: Optional[dict] = None,
                visualise: bool = False) -> dict:
    """``default_collate``, plus HAP's masks for the batch when asked.

    With ``mask_generator`` (a ``PartAwareMaskGenerator`` config), the masks
    are made here, in the data worker, for all samples at once instead of
    once per sample in the pipeline (the per-sample NumPy overhead is most
    of the masking cost). The algorithm and its random draws are the
    transform's (the worker's NumPy generator). The configs in
    ``configs/hap`` use it as::

        collate_fn=dict(type='hap_collate',
                        mask_generator=dict(type='PartAwareMaskGenerator'))

    with no ``PartAwareMaskGenerator`` step in the pipeline and
    ``PackInputs(meta_keys=[..., 'keypoints', 'keypoints_visible'])``.
    Samples without usable keypoints get block-only masks, as in the
    transform.

    The masks come back as ONE batch tensor, so the data preprocessor
    (``HAPDataPreprocessor``) moves them to the device in one copy instead
    of copying 512 data samples and their metadata, and the masked-patch
    count is checked here, on the CPU, so the encoder needs no host sync:

    - ``batch['mask']``: bool tensor (B, V, H/p, W/p), True = masked;
    - ``batch['num_masked']``: int, masked patches per view (the same for
      every view; checked);
    - ``batch['part_patches']``: int64 (B, V), part patches per view, and
      ``batch['usable_keypoints']``: int64 (B,), keypoints per image the
      generator could use (for ``DataIssueLoggerHook``'s part-guidance
      statistics);
    - the samples' ``keypoints`` and ``keypoints_visible`` metadata are
      removed once the masks are made, unless ``visualise``.

    Args:
        data_batch (list[dict]): Packed samples (``inputs`` (3, H, W),
            ``data_samples``).
        mask_generator (dict, optional): Generator config.
        visualise (bool): For pictures: keep the keypoints in the samples'
            metadata and also return ``batch['part_mask']``, bool
            (B, V, H/p, W/p), the top-priority part patches.

    Raises:
        ValueError: the images are not the generator's ``input_size``, or
            the views do not all mask the same number of patches.
    """
    batch = default_collate(data_batch)
    if mask_generator is None or not len(data_batch):
        return batch
    gen = build_mask_generator(mask_generator)
    size = tuple(batch['inputs'].shape[-2:])
    if size != gen.input_size:
        raise ValueError(
            f'hap_collate: mask_generator input_size {gen.input_size} '
            f'but the pipeline makes {size} images')
    # the collated batch holds the same data sample objects; their
    # metainfo is read with .get (building ``.metainfo`` copies it)
    samples = batch['data_samples']
    kpts, scores = zip(*(read_keypoints(s) for s in samples))
    kpts, scores = np.stack(kpts), np.stack(scores)
    masks, parts = gen.generate(kpts, scores)
    counts = masks.reshape(-1, gen.num_patches).sum(1)
    if (counts != counts[0]).any():
        raise ValueError('hap_collate: every view must mask the same number '
                         f'of patches, got {sorted(set(counts.tolist()))}')
    batch['mask'] = torch.from_numpy(masks)
    batch['num_masked'] = int(counts[0])
    batch['part_patches'] = torch.from_numpy(
        parts.reshape(len(samples), parts.shape[1], -1).sum(-1, np.int64))
    batch['usable_keypoints'] = torch.from_numpy(count_usable_keypoints(
        kpts, scores, gen.input_size, gen.score_thr))
    if visualise:
        batch['part_mask'] = torch.from_numpy(parts)
    else:
        for sample in samples:
            for key in KEYPOINT_META:
                if key in sample:
                    delattr(sample, key)
    return batch


def find_mask_generator(dataloader_cfg: dict) -> dict:
    """The ``PartAwareMaskGenerator`` config of a dataloader config: its
    ``collate_fn.mask_generator`` (``hap_collate``) or a pipeline step.

    Raises:
        ValueError: neither place has one.
    """
    collate = dataloader_cfg.get('collate_fn') or {}
    if collate.get('mask_generator') is not None:
        return dict(collate['mask_generator'])
    for step in dataloader_cfg['dataset'].get('pipeline', []):
        if step['type'] == MASK_GENERATOR:
            return dict(step)
    raise ValueError(
        'the dataloader makes no HAP masks: expected collate_fn='
        "dict(type='hap_collate', mask_generator=dict(type="
        f"'{MASK_GENERATOR}', ...)) or a {MASK_GENERATOR} pipeline step")
