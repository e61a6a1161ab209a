# HAP with a ViT-B/16 encoder on 256x128 person crops (16x8 patch grid).
model = dict(
    type='HAP',
    data_preprocessor=dict(
        # moves the batch's masks in one copy, non_blocking (hap_collate)
        type='HAPDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='HAPViT',
        arch='b',
        img_size=(256, 128),
        patch_size=16,
        pos_embed_type='sincos',
        out_type='raw'),
    neck=dict(
        type='HAPPretrainDecoder',
        grid_size=(16, 8),
        patch_size=16,
        in_chans=3,
        embed_dim=768,
        decoder_embed_dim=512,
        decoder_depth=8,
        decoder_num_heads=16,
        mlp_ratio=4.),
    head=dict(
        type='HAPPretrainHead',
        grid_size=(16, 8),
        norm_pix=True,
        patch_size=16,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    align_loss=dict(
        type='StructureInvariantAlignLoss', temperature=0.2, loss_weight=0.05),
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])
