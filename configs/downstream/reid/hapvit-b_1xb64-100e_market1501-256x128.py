# Person ReID on Market-1501 at 256x128: HAP plain ViT-B/16
# (vit_base_patch16: no BNNeck),
# the HAP release's recipe (downstream_tasks/person_reid): 1 GPU x 64
# (8 ids x 8 images), 100 epochs, AdamW lr 8e-3, layer decay 0.4, AMP.
# mAP reported by the HAP release: 91.7. The release logs test-set
# numbers every 10 epochs and saves no model; here the test split is
# evaluated every 10 epochs (reid_test/*) and the LAST checkpoint is the
# one to report. Convert the HAP checkpoint first:
#   python tools/model_converters/hap_to_backbone.py SRC DST
hap_checkpoint = 'checkpoints/hap_vit-b_backbone.pth'

_base_ = [
    '_base_/models/hapvit-b_reid.py',
    '_base_/datasets/market1501_256x128.py',
    '_base_/schedules/adamw_layer-decay-0.4_100e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=hap_checkpoint,
            prefix='backbone.')),
    head=dict(num_classes=751))  # Market-1501 training identities
