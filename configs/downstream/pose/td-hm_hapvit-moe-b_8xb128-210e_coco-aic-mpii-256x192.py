# 2-D human pose, COCO + AI Challenger + MPII at 256x192, with a HAP ViT-B/16
# whose MLPs have one expert per dataset and one head per dataset: the HAP
# release's multi-dataset recipe (ViTPose_base_coco+aic+mpii_256x192.py) in
# stock mmpose 1.3.2 terms. Reported by HAP: COCO val2017 AP 77.0,
# AIC val AP 32.2, MPII val PCKh@0.5 93.4. Validation here is COCO only (COCO
# head, expert 0). For AIC / MPII, split the last checkpoint into plain ViTs
#   python tools/model_converters/split_moe.py epoch_210.pth OUT_DIR
# and test OUT_DIR/aic.pth, OUT_DIR/mpii.pth with
# td-hm_hapvit-b_8xb64-210e_{aic,mpii}-256x192.py.
# Convert the HAP checkpoint:
#   python tools/model_converters/hap_to_backbone.py SRC DST  # DST below
hap_checkpoint = 'checkpoints/hap_vit-b_backbone.pth'

_base_ = ['mmpose::_base_/default_runtime.py']
custom_imports = dict(
    imports=['hap_mm', 'hap_mm.integrations.mmpose'], allow_failed_imports=False)
# mmengine Runner that loads (resume / test) checkpoints with weights_only.
runner_type = 'mmpretrain.HAPRunner'

# runtime: 210 epochs, validation every 10 epochs on the split whose number
# is reported, checkpoint every 10 epochs. No save_best: the release picked
# its best epoch on that split; the number to report is the last
# checkpoint's (epoch_210.pth).
train_cfg = dict(max_epochs=210, val_interval=10)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))

# optimizer: AdamW 1.1e-3, wd 0.1, grad clip 1 and ViTPose's layer-wise lr
# decay: lr x 0.77 ** (13 - id), id 0 = patch / position embedding, i + 1 =
# block i, 13 = everything else (last norm, heads); no weight decay for 1-D
# parameters (norms), biases and pos_embed
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=1.1e-3, betas=(0.9, 0.999), weight_decay=0.1),
    constructor='mmpretrain.HAPLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.77,
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        no_decay_names=('pos_embed', )),
    clip_grad=dict(max_norm=1., norm_type=2),
)

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

# lr above is for 8 GPUs x 128 images
auto_scale_lr = dict(base_batch_size=1024)

# codec settings: COCO and MPII UDP heatmaps (DARK-UDP decoding), AIC MSRA
# heatmaps (argmax + 0.25 shift)
codec = dict(
    type='UDPHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)
aic_codec = dict(
    type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)

# model settings: expert k and head k for dataset k (COCO 0, AIC 1, MPII 2);
# every head has 17 channels, AIC (14) and MPII (16) targets are
# zero-padded with weight 0; the three heads' losses are summed
model = dict(
    type='TopdownMoEPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='mmpretrain.HAPViTMoE',
        num_experts=3,  # COCO, AIC, MPII
        part_features=192,  # fc2: 576 shared + 192 per dataset
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
        out_channels=17,
        deconv_out_channels=(256, 256),
        deconv_kernel_sizes=(4, 4),
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec),
    aux_heads=[
        dict(
            type='HeatmapHead',
            in_channels=768,
            out_channels=17,
            deconv_out_channels=(256, 256),
            deconv_kernel_sizes=(4, 4),
            loss=dict(type='KeypointMSELoss', use_target_weight=True),
            decoder=aic_codec),
        dict(
            type='HeatmapHead',
            in_channels=768,
            out_channels=17,
            deconv_out_channels=(256, 256),
            deconv_kernel_sizes=(4, 4),
            loss=dict(type='KeypointMSELoss', use_target_weight=True),
            decoder=codec)
    ],
    dataset_names=('coco', 'aic', 'mpii'),
    num_keypoints=(17, 14, 16),
    test_cfg=dict(
        flip_test=True,
        flip_mode='heatmap',
        shift_heatmap=False,
    ))

# base dataset settings (validation: COCO)
data_root = 'data/coco/'
dataset_type = 'CocoDataset'
data_mode = 'topdown'

# per-dataset training pipelines, as the single-dataset configs: COCO UDP
# + half-body, AIC no UDP + half-body, MPII UDP without half-body; scale
# 0.5-1.5, rotation up to 80 degrees (p 0.6), no shift. Packed after the
# datasets are combined.
coco_pipeline = [
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
        use_udp=True),
    dict(type='GenerateTarget', encoder=codec),
]
aic_pipeline = [
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
    dict(  # pad to 17 keypoints; the extra ones have weight 0
        type='KeypointConverter',
        num_keypoints=17,
        mapping=[(i, i) for i in range(14)]),
    dict(
        type='TopdownAffine',
        input_size=aic_codec['input_size'],
        use_udp=False),
    dict(type='GenerateTarget', encoder=aic_codec),
]
mpii_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(
        type='RandomBBoxTransform',
        shift_prob=0.,
        scale_factor=(0.5, 1.5),
        rotate_factor=80.,
        rotate_prob=0.6),
    dict(  # pad to 17 keypoints; the extra ones have weight 0
        type='KeypointConverter',
        num_keypoints=17,
        mapping=[(i, i) for i in range(16)]),
    dict(
        type='TopdownAffine',
        input_size=codec['input_size'],
        use_udp=True),
    dict(type='GenerateTarget', encoder=codec),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size'], use_udp=True),
    dict(type='PackPoseInputs')
]

# data loaders (collate_fn spelled out so hap_mm's tools/train.py, which
# defaults to default_collate, keeps mmpose's pseudo_collate)
train_dataloader = dict(
    batch_size=128,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        # concatenated; the shuffled sampler draws each dataset in proportion
        # to its size
        type='CombinedDataset',
        metainfo=dict(from_file='configs/_base_/datasets/coco.py'),
        datasets=[
            dict(
                type='CocoDataset',
                data_root='data/coco/',
                data_mode=data_mode,
                ann_file='annotations/person_keypoints_train2017.json',
                data_prefix=dict(img='train2017/'),
                pipeline=coco_pipeline),
            dict(
                type='AicDataset',
                data_root='data/aic/',
                data_mode=data_mode,
                ann_file='annotations/aic_train.json',
                data_prefix=dict(img='ai_challenger_keypoint_train_20170902/'
                                 'keypoint_train_images_20170902/'),
                pipeline=aic_pipeline),
            dict(
                type='MpiiDataset',
                data_root='data/mpii/',
                data_mode=data_mode,
                ann_file='annotations/mpii_train.json',
                data_prefix=dict(img='images/'),
                pipeline=mpii_pipeline)
        ],
        pipeline=[dict(type='PackPoseInputs')],
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
        ann_file='annotations/person_keypoints_val2017.json',
        # person boxes of a detector with 56.4 human AP (as ViTPose / HAP)
        bbox_file=f'{data_root}person_detection_results/'
        'COCO_val2017_detections_AP_H_56_person.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=val_pipeline,
    ))
test_dataloader = val_dataloader

# evaluators
val_evaluator = dict(
    type='CocoMetric',
    ann_file=f'{data_root}annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator
