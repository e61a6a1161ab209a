# Runtime shared by the HAP downstream configs (person ReID, attributes).
default_scope = 'mmpretrain'
# Runner that resumes mmengine checkpoints with torch.load(weights_only=True).
runner_type = 'mmpretrain.HAPRunner'
custom_imports = dict(imports=['hap_mm'], allow_failed_imports=False)

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # stops at the first NaN / inf loss, naming the iteration, before it
    # is logged or saved (HAPRunner also rotates checkpoints only after the
    # new one is written)
    check_loss=dict(type='NonFiniteLossHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches to gloo when no GPU is present.
    dist_cfg=dict(backend='nccl'),
)
# MMDistributedDataParallel that also runs on CPU processes.
model_wrapper_cfg = dict(type='mmpretrain.HAPDistributedDataParallel')

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, diff_rank_seed=False)
