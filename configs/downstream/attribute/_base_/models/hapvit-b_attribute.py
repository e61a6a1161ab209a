# HAPViT-B/16 CLS token + linear multi-label head with positive-ratio
# weighted BCE; PositiveRatioHook fills the weights from the training labels.
# Set head.num_classes and head.loss.num_classes to the attribute count.
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='HAPViT',
        arch='b',
        img_size=(256, 192),
        patch_size=16,
        pos_embed_type='learned',
        drop_path_rate=0.1,
        out_type='cls_token'),
    neck=None,
    head=dict(
        type='MultiLabelLinearClsHead',
        num_classes=26,
        in_channels=768,
        loss=dict(type='PositiveRatioBCELoss', num_classes=26)))
custom_hooks = [dict(type='PositiveRatioHook')]
