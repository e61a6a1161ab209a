# A small, real HAP pre-training on the demo crops in data/demo, for CPU:
# a 4-layer ViT (192-d) on 256x128 crops, two part-guided views, alignment.
# Finishes in a few minutes on 2 CPU cores; `make demo` runs it.
#   python tools/train.py configs/hap/hap_demo.py
#   tools/dist_train.sh configs/hap/hap_demo.py 2      # 2 CPU processes, gloo
_base_ = [
    '_base_/models/hap_vit-base-p16.py',
    '_base_/datasets/lup_keypoints.py',
    '_base_/default_runtime.py',
]

data_root = '{{ fileDirname }}/../../data/demo'
model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=192,
            num_layers=4,
            num_heads=3,
            feedforward_channels=768)),
    neck=dict(
        embed_dim=192,
        decoder_embed_dim=128,
        decoder_depth=2,
        decoder_num_heads=4))

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    pin_memory=False,
    drop_last=False,  # 27 crops: every image in every epoch
    dataset=dict(data_root=data_root, ann_file='', sample_ratio=1.0))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-3, betas=(0.9, 0.95), weight_decay=0.05),
    # MAE's (and the release's) parameter groups: no weight decay on 1-D
    # parameters (norms, biases) only; cls_token and mask_token decay, the
    # frozen sin-cos pos-embeds are not optimised at all
    paramwise_cfg=dict(flat_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=True,
        begin=0,
        end=2,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=28,
        eta_min=1e-5,
        by_epoch=True,
        begin=2,
        end=30,
        convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=30)
auto_scale_lr = dict(base_batch_size=8)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=2),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=2))
