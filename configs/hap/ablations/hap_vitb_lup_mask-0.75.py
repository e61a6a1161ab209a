# Ablation of hap_vitb_lup.py. Mask ratio 0.75 instead of 0.5.
_base_ = '../hap_vitb_lup.py'

train_pipeline = {{_base_.train_pipeline}}
train_pipeline[2]['mask_ratio'] = 0.75
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
