# HAP recipe: AdamW, lr = 1.5e-4 * total_batch / 256 at total batch 4096,
# 40 warm-up epochs then cosine to 400 epochs.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(
        type='AdamW', lr=1.5e-4 * 4096 / 256, betas=(0.9, 0.95),
        weight_decay=0.05),
    # MAE's (and the release's) parameter groups: no weight decay on 1-D
    # parameters (norms, biases) only; cls_token and mask_token decay, the
    # frozen sin-cos pos-embeds are not optimised at all
    paramwise_cfg=dict(flat_decay_mult=0.0, bias_decay_mult=0.0))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=40,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=360,
        by_epoch=True,
        begin=40,
        end=400,
        convert_to_iter_based=True)
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=400)
# The lr above is for 8 GPUs x 512; --auto-scale-lr rescales it linearly.
auto_scale_lr = dict(base_batch_size=4096)
