"""Batched masks in the collate step equal the per-sample transform's."""
import numpy as np
import pytest
from mmengine.registry import FUNCTIONS

from hap_mm.datasets import LUPersonKeypointDataset, find_mask_generator

GEN = dict(type='PartAwareMaskGenerator', mask_ratio=0.5, num_views=2)
META = ['img_path', 'data_issues', 'keypoints', 'keypoints_visible']


def test_collate_masks_have_exact_counts_and_follow_the_keypoints(demo_root):
    pipeline = [
        dict(type='KeypointRandomResizedCrop', scale=(256, 128)),
        dict(type='KeypointRandomFlip'),
        dict(type='PackInputs', meta_keys=META),
    ]
    ds = LUPersonKeypointDataset(str(demo_root), pipeline=pipeline)
    collate = FUNCTIONS.get('hap_collate')
    np.random.seed(0)
    batch = collate([ds[i] for i in range(8)], mask_generator=GEN,
                    visualise=True)
    assert batch['inputs'].shape == (8, 3, 256, 128)
    assert batch['mask'].shape == batch['part_mask'].shape == (8, 2, 16, 8)
    assert batch['mask'].reshape(16, -1).sum(-1).tolist() == [64] * 16
    assert batch['num_masked'] == 64
    assert not (batch['part_mask'] & ~batch['mask']).any()
    # part patches only where the sample's own keypoints put body parts
    from hap_mm.datasets.transforms import PartAwareMaskGenerator
    gen = PartAwareMaskGenerator()
    for sample, part in zip(batch['data_samples'], batch['part_mask']):
        body = gen.part_patches(
            np.asarray(sample.metainfo['keypoints'], float).reshape(1, 17, 2),
            np.asarray(sample.metainfo['keypoints_visible'],
                       float).reshape(1, 17)).any(1).reshape(16, 8)
        assert not (part.numpy().any(0) & ~body).any()


def _collated_masks(batch):
    """The batch's masks, bool (B, V, h, w), as hap_collate returns them."""
    return batch['mask'].numpy()


def test_collate_masks_equal_the_per_sample_transform(demo_root):
    """Same NumPy seed, same images and keypoints: hap_collate's batch masks
    are the pipeline step's, image by image (part-guided and block-only)."""
    from hap_mm.datasets.transforms import PartAwareMaskGenerator
    pipeline = [
        dict(type='KeypointRandomResizedCrop', scale=(256, 128)),
        dict(type='KeypointRandomFlip'),
        dict(type='PackInputs', meta_keys=META),
    ]
    ds = LUPersonKeypointDataset(str(demo_root), pipeline=pipeline)
    np.random.seed(1)
    packed = [ds[i] for i in range(12)]
    kpts = [(s['data_samples'].keypoints, s['data_samples'].keypoints_visible)
            for s in packed]
    collate = FUNCTIONS.get('hap_collate')

    def one_by_one(transform, flip_xy=False):
        np.random.seed(2)
        return np.stack([
            transform(dict(img_shape=(256, 128),
                           keypoints=k[..., ::-1] if flip_xy else k,
                           keypoints_visible=v))['mask'] for k, v in kpts])

    for cfg in (GEN, dict(GEN, part_guided=False)):
        transform = PartAwareMaskGenerator(
            **{k: v for k, v in cfg.items() if k != 'type'})
        np.random.seed(2)
        batch = _collated_masks(collate(list(packed), mask_generator=cfg))
        assert batch.shape == (12, 2, 16, 8)
        assert (batch == one_by_one(transform)).all()
    # not vacuous: the part-guided masks follow the keypoints
    guided = PartAwareMaskGenerator()
    assert (one_by_one(guided) != one_by_one(guided, flip_xy=True)).any()


def test_collate_without_generator_is_default_collate(demo_root):
    pipeline = [
        dict(type='KeypointRandomResizedCrop', scale=(256, 128)),
        dict(type='PartAwareMaskGenerator'),
        dict(type='PackInputs'),
    ]
    ds = LUPersonKeypointDataset(str(demo_root), pipeline=pipeline)
    batch = FUNCTIONS.get('hap_collate')([ds[0], ds[1]])
    assert batch['data_samples'][0].mask.shape == (2, 16, 8)


def test_samples_without_keypoints_get_block_only_masks(demo_root):
    pipeline = [
        dict(type='KeypointRandomResizedCrop', scale=(256, 128)),
        dict(type='PackInputs', meta_keys=['img_path']),  # no keypoints
    ]
    ds = LUPersonKeypointDataset(str(demo_root), pipeline=pipeline)
    batch = FUNCTIONS.get('hap_collate')([ds[0], ds[1]], mask_generator=GEN,
                                         visualise=True)
    assert batch['mask'].reshape(4, -1).sum(-1).tolist() == [64] * 4
    assert not batch['part_mask'].any()


def test_images_of_another_size_than_the_generator_are_refused(demo_root):
    pipeline = [
        dict(type='KeypointRandomResizedCrop', scale=(128, 64)),
        dict(type='PackInputs', meta_keys=META),
    ]
    ds = LUPersonKeypointDataset(str(demo_root), pipeline=pipeline)
    with pytest.raises(ValueError, match=r'input_size \(256, 128\).*\(128, 64\)'):
        FUNCTIONS.get('hap_collate')([ds[0]], mask_generator=GEN)


def test_find_mask_generator_in_collate_or_pipeline():
    in_collate = dict(
        collate_fn=dict(type='hap_collate', mask_generator=GEN),
        dataset=dict(pipeline=[dict(type='PackInputs')]))
    in_pipeline = dict(dataset=dict(pipeline=[
        dict(GEN, mask_ratio=0.6), dict(type='PackInputs')]))
    assert find_mask_generator(in_collate) == GEN
    assert find_mask_generator(in_pipeline)['mask_ratio'] == 0.6
    with pytest.raises(ValueError, match='hap_collate'):
        find_mask_generator(dict(dataset=dict(pipeline=[])))
