# The HAP release's attribute model (Rethinking_of_PAR, backbone vit_b, head
# 'linear'): HAPViT-B/16 at 256x192 (16x12 patches; the 16x8 pre-trained
# position embedding is resized bicubic with the CLS slot kept), drop path 0;
# the patch tokens after the final LayerNorm, average-pooled (no CLS token),
# feed a Linear head (PyTorch default init, no BN); positive-ratio weighted
# BCE (exp(1 - r) / exp(r), summed over attributes, averaged over images).
# PositiveRatioHook fills r from the training labels.
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
        drop_path_rate=0.0,
        out_type='featmap'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='MultiLabelLinearClsHead',
        num_classes=26,
        in_channels=768,
        loss=dict(type='PositiveRatioBCELoss', num_classes=26),
        init_cfg=None))
custom_hooks = [dict(type='PositiveRatioHook')]
