# Ablation of hap_vitb_lup.py. No part guidance: block-wise masking only (two views, alignment on).
_base_ = '../hap_vitb_lup.py'

train_pipeline = {{_base_.train_pipeline}}
train_pipeline[2]['part_guided'] = False
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
