# Ablation of hap_vitb_lup.py. The MAE baseline: one view, uniform random
# masking, no part guidance, no alignment (the same file as
# configs/hap/mae_vitb_lup.py, listed here with the other ablations).
_base_ = '../mae_vitb_lup.py'
