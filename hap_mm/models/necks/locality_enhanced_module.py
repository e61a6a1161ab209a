"""The conv branch of the HAP release's ViT-lem ReID model."""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torchvision.models.resnet import Bottleneck


@MODELS.register_module()
class LocalityEnhancedModule(BaseModule):
    """ResNet bottlenecks on a ViT's patch-token map, pooled to a vector.

    Takes the two outputs of :class:`HAPViTForLEM`, the LN CLS token
    (B, C_in) and the last block's pre-norm patch map (B, C_in, h, w), and
    returns ``(cls_feat, conv_feat)``: the CLS token unchanged and

        conv_feat = LN(avg_pool(bottlenecks(map)))   (B, C_out)

    The bottlenecks are torchvision's (1x1 -> 3x3 -> 1x1 convolutions
    without bias, BN + ReLU after each, ReLU after the residual sum; width
    C_out / 4): the first maps C_in to C_out with stride ``stride`` and a
    1x1-conv + BN shortcut, the others keep C_out with an identity shortcut.
    With the defaults this is the release's ``lem_base_patch16`` head
    (768 -> 1536 stride 2, 1536 -> 1536 twice; 16x8 -> 8x4 at 256x128,
    24x8 -> 12x4 at 384x128; LayerNorm eps 1e-6), with PyTorch's default
    initialisation of every layer, as in the release.

    Args:
        in_channels (int): C_in, the ViT width.
        out_channels (int): C_out.
        num_blocks (int): Bottlenecks, >= 1.
        stride (int): Stride of the first bottleneck's 3x3 convolution.
        init_cfg (dict, optional): mmengine init config; None keeps PyTorch's
            default initialisation.
    """

    def __init__(self,
                 in_channels: int = 768,
                 out_channels: int = 1536,
                 num_blocks: int = 3,
                 stride: int = 2,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_blocks < 1 or out_channels % Bottleneck.expansion:
            raise ValueError(
                f'num_blocks must be >= 1 and out_channels a multiple of '
                f'{Bottleneck.expansion}, got {num_blocks} and {out_channels}')
        width = out_channels // Bottleneck.expansion
        shortcut = nn.Sequential(
            nn.Conv2d(
                in_channels, out_channels, 1, stride=stride, bias=False),
            nn.BatchNorm2d(out_channels))
        blocks = [Bottleneck(in_channels, width, stride, shortcut)]
        blocks += [
            Bottleneck(out_channels, width) for _ in range(num_blocks - 1)
        ]
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.norm = nn.LayerNorm(out_channels, eps=1e-6)

    def forward(self, inputs: Sequence[torch.Tensor]
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """(cls (B, C_in), map (B, C_in, h, w)) -> (cls, conv_feat
        (B, C_out))."""
        cls_feat, feat_map = inputs[-2:]
        conv_feat = self.norm(self.pool(self.blocks(feat_map)).flatten(1))
        return cls_feat, conv_feat
