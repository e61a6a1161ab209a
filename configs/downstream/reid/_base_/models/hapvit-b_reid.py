# The HAP release's plain-ViT ReID model (vit_base_patch16,
# [R]models/models_vit.py): the LN CLS token feeds both a Linear ID
# classifier and the triplet loss (no BNNeck); loss 0.5 CE + 0.5 soft-margin
# batch-hard triplet; test feature the LN CLS token (768-d), L2-normalised by
# ReIDMetric. Set head.num_classes to the number of training identities.
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
        type='MultiBranchReIDHead',
        num_classes=751,
        in_channels=(768, ),
        bnneck=False,
        loss_id=dict(type='CrossEntropyLoss', loss_weight=0.5),
        loss_triplet=dict(
            type='HardMiningTripletLoss', margin=None, loss_weight=0.5)))
