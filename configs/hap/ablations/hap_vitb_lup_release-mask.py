# Ablation of hap_vitb_lup.py. The authors' release's mask sampling, defects included (parts in ~1% of
# samples, scores ignored, ties to low patch indices).
_base_ = '../hap_vitb_lup.py'

train_pipeline = {{_base_.train_pipeline}}
train_pipeline[2]['release_compatible'] = True
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
