# 2-D human pose on AI Challenger (AIC) at 256x192 with a HAP ViT-B/16: the HAP
# release's single-dataset recipe (ViTPose_base_aic_256x192.py) in stock
# mmpose 1.3.2 terms. Reported by HAP: AIC val AP 31.5.
# The AIC part of the COCO+AIC+MPII model (32.2 reported) is tested
# with this config too, on the checkpoint split_moe.py writes.
# Convert the HAP checkpoint:
#   python tools/model_converters/hap_to_backbone.py SRC DST  # DST below
hap_checkpoint = 'checkpoints/hap_vit-b_backbone.pth'

_base_ = ['mmpose::_base_/default_runtime.py']
custom_imports = dict(
    imports=['hap_mm'], allow_failed_imports=False)
# mmengine Runner that loads (resume / test) checkpoints with weights_only.
runner_type = 'mmpretrain.HAPRunner'

# runtime: 210 epochs, validation every 10 epochs on the split whose number
# is reported, checkpoint every 10 epochs. No save_best: the release picked
# its best epoch on that split; the number to report is the last
# checkpoint's (epoch_210.pth).
train_cfg = dict(max_epochs=210, val_interval=10)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))

# optimizer: plain Adam 5e-4; no layer decay, weight decay or clipping
optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=5e-4, betas=(0.9, 0.999), weight_decay=0.))

# learning policy: linear warm-up over 500 iterations from 0.001 x lr, then
# x 0.1 at epochs 170 and 200 (each param group from its own lr)
param_scheduler = [
    dict(
        type='LinearLR', begin=0, end=500, start_factor=0.001,
        by_epoch=False),  # warm-up
    dict(
        type='MultiStepLR',
        begin=0,
        end=210,
        milestones=[170, 200],
        gamma=0.1,
        by_epoch=True)
]

# lr above is for 8 GPUs x 64 images
auto_scale_lr = dict(base_batch_size=512)

# codec settings: MSRA heatmaps (no UDP); decoding: argmax + 0.25-pixel shift
codec = dict(
    type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)

# model settings
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='mmpretrain.HAPViT',
        arch='b',
        img_size=(256, 192),  # (H, W); the 16x8 pre-training grid is resized
        patch_size=16,
        patch_cfg=dict(padding=2),  # ViTPose: 16x16 conv, stride 16, padding 2
        # no CLS token (ViTPose): the CLS slot of the checkpoint's position
        # embedding is dropped; HAP's is all zeros, so this equals adding it
        # to every patch as ViTPose does (see docs/downstream.md)
        with_cls_token=False,
        # the release does not load HAP's final norm into the last norm:
        # it starts as a fresh LayerNorm (True loads it)
        load_final_norm=False,
        pos_embed_type='learned',
        drop_path_rate=0.3,
        out_type='featmap',  # (B, 768, 16, 12), stride 16
        init_cfg=dict(
            type='Pretrained', checkpoint=hap_checkpoint,
            prefix='backbone.')),
    head=dict(
        type='HeatmapHead',
        in_channels=768,
        out_channels=14,
        deconv_out_channels=(256, 256),
        deconv_kernel_sizes=(4, 4),
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec),
    test_cfg=dict(
        flip_test=True,
        flip_mode='heatmap',
        shift_heatmap=True,
    ))

# base dataset settings
data_root = 'data/aic/'
dataset_type = 'AicDataset'
data_mode = 'topdown'

# pipelines: no UDP, half-body (p 0.3),
# scale 0.5-1.5, rotation up to 80 degrees (p 0.6), no shift
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody', prob=0.3),
    dict(
        type='RandomBBoxTransform',
        shift_prob=0.,
        scale_factor=(0.5, 1.5),
        rotate_factor=80.,
        rotate_prob=0.6),
    dict(
        type='TopdownAffine',
        input_size=codec['input_size'],
        use_udp=False),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size'], use_udp=False),
    dict(type='PackPoseInputs')
]

# data loaders (collate_fn spelled out so hap_mm's tools/train.py, which
# defaults to default_collate, keeps mmpose's pseudo_collate)
train_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/aic_train.json',
        data_prefix=dict(img='ai_challenger_keypoint_train_20170902/'
                         'keypoint_train_images_20170902/'),
        pipeline=train_pipeline,
    ))
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/aic_val.json',
        data_prefix=dict(img='ai_challenger_keypoint_validation_20170911/'
                         'keypoint_validation_images_20170911/'),
        test_mode=True,
        pipeline=val_pipeline,
    ))
test_dataloader = val_dataloader

# evaluators
# AIC mAP: OKS with AIC's sigmas, without areas (as the release)
val_evaluator = dict(
    type='CocoMetric',
    ann_file=f'{data_root}annotations/aic_val.json',
    use_area=False)
test_evaluator = val_evaluator
