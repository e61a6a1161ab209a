"""ViT whose MLP output layer has one expert part per dataset (ViTPose-MoE)."""
from typing import Optional, Sequence

import torch
from mmpretrain.registry import MODELS
from torch import nn

from .hap_vit import HAPViT


class ExpertLinear(nn.Module):
    """A linear layer whose last ``part_features`` outputs come from one of
    ``num_experts`` experts, chosen per sample.

    ``y = concat(shared(x), experts[route[b]](x))`` along the channels, so
    the output has ``out_features`` channels, the shared part first. Every
    expert runs on the whole batch and the sample's own is kept (as the
    release does), so each expert is in every step's graph and DDP needs no
    ``find_unused_parameters``; an expert with no sample in the batch gets a
    zero gradient.

    Loading a state dict that holds a plain ``weight`` / ``bias`` (a ViT's
    fc2, e.g. the HAP checkpoint) splits it: the shared part takes the first
    ``out_features - part_features`` output rows and **every** expert the
    last ``part_features`` rows.

    Args:
        in_features (int): Input channels.
        out_features (int): Output channels (shared + one expert part).
        part_features (int): Output channels of each expert.
        num_experts (int): Number of experts (datasets).
    """

    def __init__(self, in_features: int, out_features: int,
                 part_features: int, num_experts: int) -> None:
        super().__init__()
        if not 0 < part_features < out_features:
            raise ValueError(f'part_features must be in (0, {out_features}), '
                             f'got {part_features}')
        self.in_features = in_features
        self.out_features = out_features
        self.part_features = part_features
        self.shared = nn.Linear(in_features, out_features - part_features)
        self.experts = nn.ModuleList(
            nn.Linear(in_features, part_features) for _ in range(num_experts))
        self.route: Optional[torch.Tensor] = None
        self._register_load_state_dict_pre_hook(self._split_plain_weights)

    def _split_plain_weights(self, state_dict, prefix, *args, **kwargs):
        num_shared = self.out_features - self.part_features
        for name in ('weight', 'bias'):
            plain = state_dict.pop(prefix + name, None)
            if plain is None:
                continue
            if plain.shape[0] != self.out_features:
                raise ValueError(
                    f'{prefix}{name}: {plain.shape[0]} output rows in the '
                    f'checkpoint, the layer has {self.out_features}')
            state_dict[f'{prefix}shared.{name}'] = plain[:num_shared]
            for k in range(len(self.experts)):
                state_dict[f'{prefix}experts.{k}.{name}'] = \
                    plain[num_shared:].clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, ..., in_features) -> (B, ..., out_features), sample ``b``
        through expert ``self.route[b]``."""
        if self.route is None:
            raise RuntimeError(
                'ExpertLinear has no route: call HAPViTMoE.forward(x, '
                'dataset_idx=...) with the dataset index of every sample')
        parts = torch.stack([expert(x) for expert in self.experts])
        part = parts[self.route, torch.arange(x.shape[0], device=x.device)]
        return torch.cat([self.shared(x), part], dim=-1)


@MODELS.register_module()
class HAPViTMoE(HAPViT):
    """``HAPViT`` with per-dataset experts in every block's MLP (ViTPose's
    multi-dataset ``ViTMoE``).

    Each block's second MLP layer (fc2, ``ffn.layers.1``) is an
    :class:`ExpertLinear`: ``embed_dims - part_features`` shared output
    channels and a ``part_features``-wide expert per dataset, picked per
    sample by its dataset index. Attention, fc1 and the norms are shared.
    A plain ViT checkpoint (HAP's) initialises the shared part from the
    first rows of each fc2 and every expert from its last
    ``part_features`` rows. ``tools/model_converters/split_moe.py`` turns a
    trained model back into one plain ``HAPViT`` per dataset.

    Layer-wise lr decay sees the experts as part of their block.

    Args:
        num_experts (int): Number of datasets. Defaults to 3.
        part_features (int): Output channels of each expert. Defaults to
            192 (ViT-B: 576 shared + 192).
        *args, **kwargs: ``HAPViT`` arguments.
    """

    def __init__(self,
                 *args,
                 num_experts: int = 3,
                 part_features: int = 192,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.num_experts = num_experts
        self.part_features = part_features
        for layer in self.layers:
            fc2 = layer.ffn.layers[1]
            layer.ffn.layers[1] = ExpertLinear(fc2.in_features,
                                               fc2.out_features,
                                               part_features, num_experts)

    def expert_layers(self) -> Sequence[ExpertLinear]:
        """The :class:`ExpertLinear` of every block, first block first."""
        return [layer.ffn.layers[1] for layer in self.layers]

    def forward(self, x: torch.Tensor, *args,
                dataset_idx: Optional[torch.Tensor] = None, **kwargs):
        """``HAPViT.forward`` with sample ``b`` through expert
        ``dataset_idx[b]``.

        Args:
            x (torch.Tensor): Images (B, 3, H, W).
            dataset_idx (torch.Tensor): (B,) integer dataset index of every
                sample, each in ``[0, num_experts)``.
        """
        if dataset_idx is None:
            raise ValueError('HAPViTMoE.forward needs dataset_idx, the (B,) '
                             'dataset index of every sample')
        dataset_idx = torch.as_tensor(dataset_idx, device=x.device).long()
        if dataset_idx.shape != (x.shape[0], ):
            raise ValueError(f'dataset_idx has shape {tuple(dataset_idx.shape)}'
                             f', expected ({x.shape[0]},)')
        layers = self.expert_layers()
        for layer in layers:
            layer.route = dataset_idx
        try:
            return super().forward(x, *args, **kwargs)
        finally:
            for layer in layers:
                layer.route = None
