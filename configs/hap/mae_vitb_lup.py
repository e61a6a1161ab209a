# MAE baseline on LUPerson: one view, uniform random masking, no alignment;
# everything else (ViT-B/16, 256x128, ratio 0.5, schedule) as hap_vitb_lup.
_base_ = './hap_vitb_lup.py'

model = dict(align_loss=None)
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(
            type='KeypointRandomResizedCrop',
            scale=(256, 128),
            crop_ratio_range=(0.8, 1.0),
            interpolation='bicubic'),
        dict(type='KeypointRandomFlip', prob=0.5),
        dict(
            type='PartAwareMaskGenerator',
            input_size=(256, 128),
            mask_ratio=0.5,
            num_views=1,
            part_guided=False,
            block_wise=False),
        dict(
            type='PackInputs',
            meta_keys=['img_path', 'data_issues']),
    ]))
