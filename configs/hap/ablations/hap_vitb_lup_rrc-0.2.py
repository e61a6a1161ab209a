# Ablation of hap_vitb_lup.py. RandomResizedCrop scale (0.2, 1.0) (MAE's
# low scaling ratio) instead of (0.8, 1.0).
_base_ = '../hap_vitb_lup.py'

train_pipeline = {{_base_.train_pipeline}}
train_pipeline[0]['crop_ratio_range'] = (0.2, 1.0)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
