# Person ReID on MSMT17 (V1 or V2) at 384x128: HAP plain ViT-B/16
# (vit_base_patch16: no BNNeck),
# the HAP release's recipe (downstream_tasks/person_reid): 1 GPU x 64
# (8 ids x 8 images), 100 epochs, AdamW lr 8e-3, layer decay 0.4, AMP.
# mAP reported by the HAP release: 76.8. The release logs test-set
# numbers every 10 epochs and saves no model; here the test split is
# evaluated every 10 epochs (reid_test/*) and the LAST checkpoint is the
# one to report. Convert the HAP checkpoint first:
#   python tools/model_converters/hap_to_backbone.py SRC DST
hap_checkpoint = 'checkpoints/hap_vit-b_backbone.pth'

_base_ = ['./hapvit-b_1xb64-100e_msmt17-256x128.py']

# 24x8 patches: the 16x8 pre-trained position embedding is resized
# (bicubic, CLS slot kept) as it loads.
model = dict(
    backbone=dict(
        img_size=(384, 128),
        init_cfg=dict(
            type='Pretrained', checkpoint=hap_checkpoint,
            prefix='backbone.')))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 384), interpolation='bicubic'),  # (w, h)
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomCrop', crop_size=(384, 128), padding=10),  # (h, w)
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
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 384), interpolation='bicubic'),
    dict(type='PackInputs', meta_keys=('img_path', 'pid', 'camid',
                                       'is_query')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
