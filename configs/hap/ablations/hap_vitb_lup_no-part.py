# Ablation of hap_vitb_lup.py. No part guidance: block-wise masking only (two views and
# alignment kept).
_base_ = '../hap_vitb_lup.py'

train_dataloader = dict(
    collate_fn=dict(mask_generator=dict(part_guided=False)))  # <- the ablated setting
