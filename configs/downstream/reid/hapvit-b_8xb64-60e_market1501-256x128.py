# Person ReID on Market-1501 with a HAP ViT-B/16 at 256x128.
# mAP reported by the HAP paper: 91.7. Convert the HAP checkpoint first:
#   python tools/model_converters/hap_to_backbone.py SRC DST
hap_checkpoint = 'checkpoints/hap_vit-b_backbone.pth'

_base_ = [
    '_base_/models/hapvit-b_reid.py',
    '_base_/datasets/market1501_256x128.py',
    '_base_/schedules/adamw_layer-decay_60e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=hap_checkpoint,
            prefix='backbone.')),
    head=dict(num_classes=751))  # Market-1501 training identities

default_hooks = dict(
    checkpoint=dict(save_best='reid/mAP', rule='greater'))
