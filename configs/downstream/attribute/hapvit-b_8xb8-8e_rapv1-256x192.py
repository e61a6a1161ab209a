# Pedestrian attribute recognition on RAPv1 with a HAP ViT-B/16 at
# 256x192, the HAP release's recipe (Rethinking_of_PAR, pedes_baseline/
# rapv1.yaml): 8 GPUs x 8, 8 epochs, AdamW lr 2.4e-4, wd 5e-4,
# warm-up 0.8 epochs.
# mA reported by the HAP release: 82.91. The release reports the best
# test-split mA over epochs; here the test split is evaluated every
# epoch (attribute_test/*) and the LAST checkpoint is the one to report.
# Convert the HAP checkpoint first:
#   python tools/model_converters/hap_to_backbone.py SRC DST
hap_checkpoint = 'checkpoints/hap_vit-b_backbone.pth'

_base_ = [
    '_base_/models/hapvit-b_attribute.py',
    '_base_/datasets/rap_256x192.py',
    '_base_/schedules/adamw_timm-cosine.py',
    '../_base_/default_runtime.py',
]

num_attributes = 51  # RAP v1 attributes evaluated (label_idx.eval)
model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=hap_checkpoint,
            prefix='backbone.')),
    head=dict(
        num_classes=num_attributes,
        loss=dict(num_classes=num_attributes)))

optim_wrapper = dict(optimizer=dict(lr=2.4e-4))
param_scheduler = dict(
    t_initial=8, warmup_t=0.8)  # warm-up 0.1 x epochs
randomness = dict(seed=605)  # the release's seed
train_cfg = dict(max_epochs=8)
