# Ablation of hap_vitb_lup.py. No structure-invariant alignment loss.
_base_ = '../hap_vitb_lup.py'

model = dict(align_loss=None)
