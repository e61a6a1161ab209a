# HAP ViT-L/16 on LUPerson: the ViT-B recipe with a ViT-L/16 encoder.
#   tools/dist_train.sh configs/hap/hap_vitl_lup.py 8
_base_ = './hap_vitb_lup.py'

mae_checkpoint = 'checkpoints/mae_pretrain_vit_large.pth'
model = dict(
    backbone=dict(
        arch='l',
        init_cfg=dict(type='Pretrained', checkpoint=mae_checkpoint)),
    neck=dict(embed_dim=1024))
