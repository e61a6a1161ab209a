# Pedestrian attribute recognition on RAP with a HAP ViT-B/16 at 256x192.
# mA reported by the HAP paper: 82.91. Convert the HAP checkpoint first:
#   python tools/model_converters/hap_to_backbone.py SRC DST
hap_checkpoint = 'checkpoints/hap_vit-b_backbone.pth'

_base_ = [
    '_base_/models/hapvit-b_attribute.py',
    '_base_/datasets/rap_256x192.py',
    '_base_/schedules/adamw_layer-decay_30e.py',
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

default_hooks = dict(
    checkpoint=dict(save_best='attribute/mA', rule='greater'))
