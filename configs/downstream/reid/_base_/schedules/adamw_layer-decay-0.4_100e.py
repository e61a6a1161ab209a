# The HAP release's ReID optimisation ([R]config_reid.py, main_reid.py,
# utils/lr_decay.py, utils/lr_scheduler.py): AdamW (0.9, 0.999), lr 8e-3
# (absolute: no batch scaling), wd 0.05 except 1-D parameters, pos_embed and
# cls_token; layer decay 0.4 over 13 ids (patch embedding x 0.4^13, block i x
# 0.4^(12 - i), final norm / neck / head x 1); frozen BN shifts are left
# out. Mixed precision (autocast + dynamic loss scaling), no gradient
# clipping. Per-iteration linear warm-up over 5 epochs (from ~0), then
# cosine to 0 at epoch 100.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(
        type='AdamW', lr=8e-3, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='HAPLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.4,
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        no_decay_names=('pos_embed', 'cls_token')))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6,
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=95,
        eta_min=0.0,
        by_epoch=True,
        begin=5,
        end=100,
        convert_to_iter_based=True)
]
# Evaluation on query + gallery (the test split: neither dataset has a
# validation split) every 10 epochs and at the end, logged as reid_test/*;
# no checkpoint is selected on it: report the last one.
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=10)
val_cfg = dict()
test_cfg = dict()
