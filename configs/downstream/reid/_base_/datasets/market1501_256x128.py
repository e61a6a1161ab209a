# Market-1501 (data_root: the Market-1501-v15.09.15 directory), 256x128.
# Training batches: P=16 identities x K=4 images per GPU.
dataset_type = 'Market1501'
data_root = 'data/market1501/'
batch_size = 64  # per GPU, P x K; the sampler needs it too

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 256), interpolation='bicubic'),  # (w, h)
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomCrop', crop_size=(256, 128), padding=10),  # (h, w)
    dict(
        type='RandomErasing',
        erase_prob=0.5,
        mode='const',
        fill_color=(124, 116, 104)),
    dict(type='PackInputs'),
]
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
        num_instances=4),
    dataset=dict(
        type=dataset_type, data_root=data_root, pipeline=train_pipeline))
# One evaluation set: the query images, then the gallery.
val_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        test_mode=True,
        pipeline=test_pipeline))
val_evaluator = dict(type='ReIDMetric', distance='cosine')
test_dataloader = val_dataloader
test_evaluator = val_evaluator
