# PETA (data_root: dataset.pkl + images/), 256x192, partition 0.
# Trained on train + val, evaluated on test (the usual protocol).
dataset_type = 'PETA'
data_root = 'data/PETA/'

# Resize (bilinear) -> Pad 10 + RandomCrop -> HFlip, as the release.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(192, 256)),  # (w, h)
    dict(type='RandomCrop', crop_size=(256, 192), padding=10),  # (h, w)
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(192, 256)),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=8,  # per GPU, 8 GPUs
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='trainval',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        test_mode=True,
        pipeline=test_pipeline))
# The test split (see the schedule): numbers logged as attribute_test/*.
val_evaluator = dict(type='AttributeMetric', threshold=0.5, prefix='attribute_test')
test_dataloader = val_dataloader
test_evaluator = val_evaluator
