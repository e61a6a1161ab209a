# The HAP release's ViT-lem ReID model (lem_base_patch16,
# [R]models/models_lem.py): HAPViTForLEM gives the LN CLS token and the last
# block's pre-norm patch map; LocalityEnhancedModule runs three ResNet
# bottlenecks (768 -> 1536 stride 2, 1536 -> 1536 twice), avg-pools and
# LayerNorms the map. Each branch has a BNNeck and its own classifier; loss
# 0.5 mean(CE_cls, CE_conv) + 0.5 mean(Tri_cls, Tri_conv) (CE after BN,
# triplet before); test feature concat(LN cls, LN conv) = 2304-d before BN,
# L2-normalised once by ReIDMetric.
_base_ = ['./hapvit-b_reid.py']

model = dict(
    backbone=dict(type='HAPViTForLEM'),
    neck=dict(
        _delete_=True,
        type='LocalityEnhancedModule',
        in_channels=768,
        out_channels=1536,
        num_blocks=3,
        stride=2),
    head=dict(in_channels=(768, 1536), bnneck=True))
