# HAP ViT-B/16 on LUPerson, the paper's recipe: the first half of CFS_list.pkl
# (2,090,121 crops, sample_ratio=0.5 in the dataset config),
# 256x128, 8 GPUs x 512 = 4096, 400 epochs, mask ratio 0.5, align 0.05.
#   tools/dist_train.sh configs/hap/hap_vitb_lup.py 8
_base_ = [
    '_base_/models/hap_vit-base-p16.py',
    '_base_/datasets/lup_keypoints.py',
    '_base_/schedules/adamw_400e_lup.py',
    '_base_/default_runtime.py',
]

# ImageNet MAE ViT-B/16 weights to start from (timm or mmpretrain naming);
# the 14x14 position embedding is resized to 16x8 when loading.
mae_checkpoint = 'checkpoints/mae_pretrain_vit_base.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=mae_checkpoint)))
