# Ablation of hap_vitb_lup.py. Mask ratio 0.75 instead of 0.5.
_base_ = '../hap_vitb_lup.py'

train_pipeline = [
    dict(
        type='KeypointRandomResizedCrop',
        scale=(256, 128),
        crop_ratio_range=(0.8, 1.0),
        aspect_ratio_range=(3. / 4., 4. / 3.),
        relative_aspect=True,
        interpolation='bicubic'),
    dict(type='KeypointRandomFlip', prob=0.5, swap_left_right=True),
    dict(
        type='PartAwareMaskGenerator',
        input_size=(256, 128),
        patch_size=16,
        mask_ratio=0.75,  # <- the ablated setting
        num_views=2,
        max_part_fraction=0.3,
        min_block_patches=12,
        score_thr=0.3),
    dict(
        type='PackInputs',
        meta_keys=['img_path', 'data_issues']),
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
