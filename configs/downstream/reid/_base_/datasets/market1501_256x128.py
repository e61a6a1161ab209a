# Market-1501 (data_root: the Market-1501-v15.09.15 directory), 256x128.
# The HAP release's data recipe ([R]utils/transforms.py, utils/sampler.py,
# config_reid.py): batches of 64 = 8 identities x 8 images (an identity
# with fewer than 8 images is drawn with replacement) on 1 GPU.
dataset_type = 'Market1501'
data_root = 'data/market1501/'
batch_size = 64  # P x K; the sampler needs it too

# transreid_aug: Resize (H, 128) bicubic -> HFlip 0.5 -> Pad 10 (zeros) ->
# RandomCrop (H, 128) -> random erasing (p 0.5, area 0.02-1/3, aspect
# 0.3-1/0.3, per-pixel N(mean, std) noise: timm's 'pixel' mode, which draws
# N(0, 1) after normalisation; the image is BGR until the preprocessor).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 256), interpolation='bicubic'),  # (w, h)
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomCrop', crop_size=(256, 128), padding=10),  # (h, w)
    dict(
        type='RandomErasing',
        erase_prob=0.5,
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        aspect_range=(0.3, 1 / 0.3),
        mode='rand',
        fill_color=(103.53, 116.28, 123.675),
        fill_std=(57.375, 57.12, 58.395)),
    dict(type='PackInputs'),
]
# no_aug: Resize (H, 128) bicubic; no flip test.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 256), interpolation='bicubic'),
    dict(type='PackInputs', meta_keys=('img_path', 'pid', 'camid',
                                       'is_query')),
]

train_dataloader = dict(
    batch_size=batch_size,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(
        type='IdentityBalancedSampler',
        batch_size=batch_size,
        num_instances=8),
    dataset=dict(
        type=dataset_type, data_root=data_root, pipeline=train_pipeline))
# One evaluation set: the query images, then the gallery. This is the test
# split (there is no validation split): its numbers are logged as
# reid_test/* and no checkpoint is selected on them.
val_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        test_mode=True,
        pipeline=test_pipeline))
val_evaluator = dict(type='ReIDMetric', prefix='reid_test')
test_dataloader = val_dataloader
test_evaluator = val_evaluator
