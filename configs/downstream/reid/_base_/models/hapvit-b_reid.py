# HAPViT-B/16 CLS token + BNNeck head: ID cross-entropy with label
# smoothing 0.1 on BN(f), batch-hard triplet loss (margin 0.3) on f.
# Set head.num_classes to the number of training identities.
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='HAPViT',
        arch='b',
        img_size=(256, 128),
        patch_size=16,
        pos_embed_type='learned',
        drop_path_rate=0.1,
        out_type='cls_token'),
    neck=None,
    head=dict(
        type='ReIDHead',
        num_classes=751,
        in_channels=768,
        loss_id=dict(
            type='LabelSmoothLoss',
            label_smooth_val=0.1,
            mode='original',
            loss_weight=1.0),
        loss_triplet=dict(
            type='HardMiningTripletLoss', margin=0.3, loss_weight=1.0),
        feature_after_bn=True))
