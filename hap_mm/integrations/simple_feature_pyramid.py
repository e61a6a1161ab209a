"""ViTDet's simple feature pyramid: multi-scale maps from one ViT map."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import nn


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of a (B, C, H, W) map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(
            x.permute(0, 2, 3, 1), self.normalized_shape, self.weight,
            self.bias, self.eps)
        return x.permute(0, 3, 1, 2).contiguous()


def _norm(norm_cfg: Optional[dict], channels: int) -> nn.Module:
    """'LN2d' here (no host registry has it), anything else from mmcv."""
    if norm_cfg is None:
        return nn.Identity()
    cfg = dict(norm_cfg)
    if cfg.get('type') == 'LN2d':
        cfg.pop('type')
        return LayerNorm2d(channels, **cfg)
    return build_norm_layer(cfg, channels)[1]


@MODELS.register_module()
class SimpleFeaturePyramid(BaseModule):
    """Feature pyramid built from a single stride-16 ViT map (ViTDet).

    Each scale is made from the same map: x4 by two 2x2 stride-2 transposed
    convolutions (norm + GELU between them), x2 by one, x1 as is, x0.5 by a
    2x2 max-pool. Every scale then goes through a 1x1 conv and a 3x3 conv,
    each followed by the norm. Outputs beyond the scales (ViTDet's P6) are
    stride-2 max-pools (kernel 1) of the last one. For a stride-16 input the
    default gives strides 4, 8, 16, 32, 64: an FPN replacement for mmdet's
    RPN / RoI heads.

    From an mmdet config: ``neck=dict(type='mmpretrain.SimpleFeaturePyramid',
    in_channels=768, out_channels=256)`` with a backbone whose last output is
    the (B, C, H/16, W/16) map (``HAPViT`` with ``out_type='featmap'``).

    Args:
        in_channels (int): Channels of the backbone map.
        out_channels (int): Channels of every output.
        scale_factors (Sequence[float]): Any of 4.0, 2.0, 1.0, 0.5, largest
            first. Defaults to (4.0, 2.0, 1.0, 0.5).
        num_outs (int): Number of outputs, at least ``len(scale_factors)``.
            Defaults to 5.
        in_index (int): Which backbone output to use. Defaults to -1.
        norm_cfg (dict, optional): Norm after each conv: ``'LN2d'`` (channel
            LayerNorm, ViTDet's choice) or any mmcv norm ('BN', 'SyncBN',
            'GN', ...). Defaults to ``dict(type='LN2d', eps=1e-6)``.
        init_cfg (dict | list[dict], optional): Defaults to Kaiming
            (fan_out) for the convolutions.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 scale_factors: Sequence[float] = (4.0, 2.0, 1.0, 0.5),
                 num_outs: int = 5,
                 in_index: int = -1,
                 norm_cfg: Optional[dict] = dict(type='LN2d', eps=1e-6),
                 init_cfg: Optional[Union[dict, list]] = dict(
                     type='Kaiming',
                     layer=['Conv2d', 'ConvTranspose2d'],
                     mode='fan_out',
                     nonlinearity='relu',
                     distribution='normal')) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_outs < len(scale_factors):
            raise ValueError(f'num_outs={num_outs} is fewer than the '
                             f'{len(scale_factors)} scale_factors')
        self.scale_factors = tuple(float(s) for s in scale_factors)
        self.num_outs = num_outs
        self.in_index = in_index
        self.stages = nn.ModuleList()
        for scale in self.scale_factors:
            resize, channels = self._resize(scale, in_channels, norm_cfg)
            use_bias = norm_cfg is None
            self.stages.append(
                nn.Sequential(
                    resize,
                    nn.Conv2d(channels, out_channels, 1, bias=use_bias),
                    _norm(norm_cfg, out_channels),
                    nn.Conv2d(
                        out_channels, out_channels, 3, padding=1,
                        bias=use_bias),
                    _norm(norm_cfg, out_channels),
                ))

    @staticmethod
    def _resize(scale: float, channels: int,
                norm_cfg: Optional[dict]) -> Tuple[nn.Module, int]:
        if scale == 4.0:
            half, quarter = channels // 2, channels // 4
            return nn.Sequential(
                nn.ConvTranspose2d(channels, half, 2, stride=2),
                _norm(norm_cfg, half), nn.GELU(),
                nn.ConvTranspose2d(half, quarter, 2, stride=2)), quarter
        if scale == 2.0:
            return nn.ConvTranspose2d(
                channels, channels // 2, 2, stride=2), channels // 2
        if scale == 1.0:
            return nn.Identity(), channels
        if scale == 0.5:
            return nn.MaxPool2d(2, stride=2), channels
        raise ValueError(f'scale factor {scale} is not one of 4, 2, 1, 0.5')

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor]:
        """(B, C, H, W) map (or a sequence, ``in_index`` picks one) ->
        ``num_outs`` maps (B, out_channels, H * s, W * s), largest first."""
        x = inputs if torch.is_tensor(inputs) else inputs[self.in_index]
        outs = [stage(x) for stage in self.stages]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], kernel_size=1, stride=2))
        return tuple(outs)
