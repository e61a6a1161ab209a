# Ablation of hap_vitb_lup.py. RandomResizedCrop scale (0.2, 1.0) (MAE's low scaling
# ratio) instead of (0.8, 1.0).
_base_ = '../hap_vitb_lup.py'

train_pipeline = [
    dict(
        type='KeypointRandomResizedCrop',
        scale=(256, 128),
        crop_ratio_range=(0.2, 1.0),  # <- the ablated setting
        aspect_ratio_range=(3. / 4., 4. / 3.),
        relative_aspect=True,
        interpolation='bicubic'),
    dict(type='KeypointRandomFlip', prob=0.5, swap_left_right=True),
    dict(
        type='PackInputs',
        meta_keys=['img_path', 'data_issues', 'keypoints',
                   'keypoints_visible']),
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
