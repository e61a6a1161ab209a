# hap_vitb_lup.py for 40/48 GB GPUs: 256 images per GPU and gradient
# accumulation over 2 iterations, so each optimiser step still sees
# 8 x 256 x 2 = 4096 images (the paper's total batch) with the same lr.
# The estimated AMP peak at 256 per GPU is about half of 512's
# (docs/gpu.md, "Memory per GPU").
#   tools/dist_train.sh configs/hap/hap_vitb_lup_8xb256-accum2.py 8
_base_ = './hap_vitb_lup.py'

train_dataloader = dict(batch_size=256)
optim_wrapper = dict(accumulative_counts=2)
# --auto-scale-lr: mmengine counts GPUs x batch_size (2048 here) and not
# the accumulation, so the lr above (set for 4096) belongs to 2048 there.
auto_scale_lr = dict(base_batch_size=2048)
