# Ablation of hap_vitb_lup.py. Mask ratio 0.75 instead of 0.5.
_base_ = '../hap_vitb_lup.py'

train_dataloader = dict(
    collate_fn=dict(mask_generator=dict(mask_ratio=0.75)))  # <- the ablated setting
