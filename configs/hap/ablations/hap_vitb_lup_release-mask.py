# Ablation of hap_vitb_lup.py. The authors' release's mask sampling, defects included
# (parts in ~1% of samples, scores ignored, ties to low patch indices).
_base_ = '../hap_vitb_lup.py'

train_dataloader = dict(
    collate_fn=dict(
        mask_generator=dict(release_compatible=True)))  # <- the ablated setting
