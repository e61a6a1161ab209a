# AdamW with layer-wise lr decay (mmpretrain's constructor; the classifier's
# get_layer_depth delegates to HAPViT), 3 warm-up epochs, cosine to 30.
# lr = 5e-4 x total batch / 256 for 4 GPUs x 16.
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=1.25e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.65,
        norm_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0)
        }))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=3,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=27,
        eta_min=1e-6,
        by_epoch=True,
        begin=3,
        end=30,
        convert_to_iter_based=True)
]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
