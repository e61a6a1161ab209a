# Person ReID on MSMT17 (V1 or V2) with a HAP ViT-B/16 at 384x128
# (24x8 patches; the 16x8 pre-trained position embedding is resized as it
# loads). mAP reported by the HAP paper: 76.8 (its 78.1 needs a ViT-lem
# head, not provided). Convert the HAP checkpoint first:
#   python tools/model_converters/hap_to_backbone.py SRC DST
hap_checkpoint = 'checkpoints/hap_vit-b_backbone.pth'

_base_ = ['./hapvit-b_8xb64-60e_msmt17-256x128.py']

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
        mode='const',
        fill_color=(124, 116, 104)),
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
