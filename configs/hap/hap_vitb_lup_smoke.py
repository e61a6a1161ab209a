# GPU smoke run: hap_vitb_lup.py exactly (ViT-B/16, 512 per GPU, AMP, 10
# workers, hap_collate masks) for 50 iterations on the 27 demo crops in
# data/demo repeated, so no LUPerson download and no MAE checkpoint are
# needed. Checks that a node trains at the real batch size and gives the
# step time, data time and memory of the real run (docs/gpu.md):
#   tools/dist_train.sh configs/hap/hap_vitb_lup_smoke.py 8
_base_ = './hap_vitb_lup.py'

model = dict(backbone=dict(init_cfg=None))  # random init, no checkpoint

# 27 crops x 2000 = 54,000 samples: a full 512 batch on each of up to 105
# GPUs (the loop below restarts the sampler when it runs out).
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='RepeatDataset',
        times=2000,
        dataset=dict(
            type='LUPersonKeypointDataset',
            data_root='{{ fileDirname }}/../../data/demo',
            ann_file='',
            pipeline={{ _base_.train_pipeline }})))

train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=50)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50)
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=50, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
