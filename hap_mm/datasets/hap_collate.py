"""Collate that makes a whole batch's HAP masks in one vectorised call."""
import functools
from typing import Optional, Sequence

import numpy as np
from mmengine.dataset import default_collate
from mmengine.registry import FUNCTIONS
from mmpretrain.registry import TRANSFORMS


@functools.lru_cache(maxsize=4)
def _generator(cfg_items: tuple):
    return TRANSFORMS.build(dict(cfg_items))


@FUNCTIONS.register_module()
def hap_collate(data_batch: Sequence[dict],
                mask_generator: Optional[dict] = None) -> dict:
    """``default_collate``, plus masks for the batch when asked.

    With ``mask_generator`` (a ``PartAwareMaskGenerator`` config), the masks
    are made here, in the data worker, for all samples at once instead of
    once per sample in the pipeline (the per-sample NumPy overhead is most
    of the masking cost). Samples must carry ``keypoints`` and
    ``keypoints_visible`` in their metainfo (``PackInputs`` ``meta_keys``);
    the algorithm is the transform's, drawing from the worker's NumPy
    generator. Use it with ``collate_fn=dict(type='hap_collate',
    mask_generator=dict(type='PartAwareMaskGenerator', ...))`` and no
    ``PartAwareMaskGenerator`` step in the pipeline.

    Args:
        data_batch (list[dict]): Packed samples (``inputs``,
            ``data_samples``).
        mask_generator (dict, optional): Generator config.
    """
    if mask_generator is not None:
        gen = _generator(tuple(sorted(mask_generator.items())))
        samples = [d['data_samples'] for d in data_batch]
        kpts = np.stack([
            np.asarray(s.metainfo['keypoints'], np.float64).reshape(17, 2)
            for s in samples
        ])
        scores = np.stack([
            np.asarray(s.metainfo['keypoints_visible'],
                       np.float64).reshape(17) for s in samples
        ])
        masks, parts = gen.generate(kpts, scores)
        for sample, mask, part in zip(samples, masks, parts):
            sample.set_mask(mask)
            sample.set_field(part, 'part_mask', field_type='metainfo')
    return default_collate(data_batch)
