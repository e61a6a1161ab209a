# MAE baseline on LUPerson: one view, uniform random masking, no alignment;
# everything else (ViT-B/16, 256x128, ratio 0.5, schedule) as hap_vitb_lup.
_base_ = './hap_vitb_lup.py'

model = dict(align_loss=None)
train_dataloader = dict(
    collate_fn=dict(
        mask_generator=dict(num_views=1, part_guided=False,
                            block_wise=False)))
