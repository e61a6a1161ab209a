# Ablation of hap_vitb_lup.py. The authors' release's mask sampling, defects included
# (parts in ~1% of samples at 512 per GPU, block overlap counted double, scores ignored,
# ties: low patch indices stay visible); docs/masking.md lists what is reproduced.
_base_ = '../hap_vitb_lup.py'

train_dataloader = dict(
    collate_fn=dict(
        mask_generator=dict(release_compatible=True)))  # <- the ablated setting
