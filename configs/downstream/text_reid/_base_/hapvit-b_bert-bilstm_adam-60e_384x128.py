# Text-to-image person retrieval, the HAP release's recipe (LGUR code base,
# downstream_tasks/text_reid; docs/text_reid.md): HAP ViT-B/16 at 384x128
# (all patch tokens without the final norm, max-pooled) + frozen BERT ->
# BiLSTM (max-pooled over the valid tokens), one shared 1x1 projection to
# 384, one shared ID classifier; ID CE on both embeddings + cross-modal
# ranking loss (cosine, margin 0.2, random semi-hard negative, both
# directions, summed). Adam, no weight decay, ViT lr 1e-4, rest 1e-3, 60
# epochs, x0.1 at (1-based) epochs 20/40/50, batch 64 on 1 GPU, fp32.
# A data set config sets data_root, the datasets and model.num_classes.
hap_checkpoint = 'checkpoints/hap_vit-b_backbone.pth'
bert_path = 'checkpoints/bert-base-uncased'
batch_size = 64

_base_ = ['../../_base_/default_runtime.py']

model = dict(
    type='TextImageReID',
    num_classes=None,  # training identities, set per data set
    feat_dims=768,
    embed_dims=384,
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    image_backbone=dict(
        type='HAPViT',
        arch='b',
        img_size=(384, 128),
        patch_size=16,
        pos_embed_type='learned',
        drop_path_rate=0.1,
        final_norm=False,  # the release uses the tokens before the norm
        out_type='featmap',
        # 24x8 patches: the 16x8 pre-trained position embedding is resized
        # (bicubic, CLS slot kept) as it loads.
        init_cfg=dict(
            type='Pretrained', checkpoint=hap_checkpoint,
            prefix='backbone.')),
    text_encoder=dict(
        type='BertBiLSTMTextEncoder',
        bert_path=bert_path,
        lstm_dims=768,
        max_length=100,
        pool_padding=False),  # True: the release's max over padding too
    loss_id=dict(type='CrossEntropyLoss'),
    loss_rank=dict(type='CrossModalRankingLoss', margin=0.2))

# Resize (384, 128) bicubic -> Pad 10 -> RandomCrop (384, 128) -> HFlip;
# no random erasing. The caption travels as metainfo.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 384), interpolation='bicubic'),  # (w, h)
    dict(type='RandomCrop', crop_size=(384, 128), padding=10),  # (h, w)
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs', meta_keys=('img_path', 'caption')),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 384), interpolation='bicubic'),
    dict(type='PackInputs', meta_keys=('img_path', 'caption')),
]

train_dataloader = dict(
    batch_size=batch_size,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = val_dataloader
test_evaluator = dict(type='TextImageRetrievalMetric', prefix='t2i_test')

# Adam (0.9, 0.999), no weight decay; the image ViT at 0.1x the base lr.
optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=1e-3, betas=(0.9, 0.999),
                   weight_decay=0.0),
    paramwise_cfg=dict(custom_keys={'image_backbone': dict(lr_mult=0.1)}))
# The release steps its MultiStepLR at the start of each epoch, so the
# decays act from (1-based) epochs 20, 40, 50 = 0-based 19, 39, 49.
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[19, 39, 49],
         gamma=0.1)
]
train_cfg = dict(by_epoch=True, max_epochs=60, val_interval=1)
val_cfg = dict()
test_cfg = dict()
randomness = dict(seed=233, diff_rank_seed=False)
