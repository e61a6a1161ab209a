# LUPerson person crops with 17 COCO keypoints each (release layout):
#   data/LUPerson/images/...jpg, data/LUPerson/keypoints/...npy
# ann_file: '' scans images/; CFS_list.pkl lists ALL 4,180,243 LUPerson images,
# best CFS score first, and the release trains on its first half (2,090,121):
# sample_ratio=0.5. With another ann_file set sample_ratio too (1.0 for the
# index tools/data/prepare_lup.py writes, which holds that half already).
dataset_type = 'LUPersonKeypointDataset'
data_root = 'data/LUPerson/'
input_size = (256, 128)

train_pipeline = [
    dict(
        type='KeypointRandomResizedCrop',
        scale=input_size,
        crop_ratio_range=(0.8, 1.0),
        aspect_ratio_range=(3. / 4., 4. / 3.),
        relative_aspect=True,
        interpolation='bicubic'),
    dict(type='KeypointRandomFlip', prob=0.5, swap_left_right=True),
    dict(
        type='PackInputs',
        meta_keys=['img_path', 'data_issues', 'keypoints',
                   'keypoints_visible']),
]

# HAP's part-guided masks, two views per image, made for a whole batch at once
# in the data workers (hap_collate). The same generator also works as a
# pipeline step before PackInputs (one call per image, about 2x slower).
mask_generator = dict(
    type='PartAwareMaskGenerator',
    input_size=input_size,
    patch_size=16,
    mask_ratio=0.5,
    num_views=2,
    max_part_fraction=0.3,
    min_block_patches=12,
    score_thr=0.3)

train_dataloader = dict(
    batch_size=512,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    drop_last=True,  # as the release: every step sees a full batch
    collate_fn=dict(type='hap_collate', mask_generator=mask_generator),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='CFS_list.pkl',
        sample_ratio=0.5,  # the first half of the CFS list, as the release
        pipeline=train_pipeline))
