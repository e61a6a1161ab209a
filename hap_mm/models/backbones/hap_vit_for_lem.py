"""HAPViT that also hands out its last block's tokens before the final norm."""
from typing import Optional, Tuple

import torch
from mmpretrain.models.utils import resize_pos_embed
from mmpretrain.registry import MODELS

from .hap_vit import HAPViT


@MODELS.register_module()
class HAPViTForLEM(HAPViT):
    """The backbone of the HAP release's ViT-lem ReID model.

    The same module and weights as :class:`HAPViT` (a converted HAP checkpoint
    loads with no missing or unexpected key), but ``forward(x)`` returns the
    two inputs of :class:`LocalityEnhancedModule`:

    - the CLS token after the final LayerNorm, (B, C);
    - the patch tokens of the last block **before** the final LayerNorm,
      as a map (B, C, H/p, W/p) (``[R]models/models_lem.py`` of the release).

    Args:
        **kwargs: :class:`HAPViT` arguments; ``final_norm`` must stay True.
    """

    def __init__(self, **kwargs) -> None:
        if not kwargs.get('final_norm', True):
            raise ValueError('HAPViTForLEM needs final_norm=True: its CLS '
                             'output is the CLS token after the final norm')
        kwargs.setdefault('out_type', 'cls_token')
        super().__init__(**kwargs)

    def forward(self,
                x: torch.Tensor,
                mask: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Images (B, 3, H, W) -> (LN CLS token (B, C), pre-norm patch map
        (B, C, H/p, W/p))."""
        if mask is not None:
            raise ValueError('HAPViTForLEM is a fine-tuning backbone; use '
                             'HAPViT for masked (pre-training) forwards')
        B = x.shape[0]
        x, hw = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1)
        x = x + resize_pos_embed(
            self.pos_embed,
            self.patch_resolution,
            hw,
            mode=self.interpolate_mode,
            num_extra_tokens=self.num_extra_tokens)
        x = self.pre_norm(self.drop_after_pos(x))
        for layer in self.layers:
            x = layer(x)
        cls_token = self.ln1(x[:, 0])
        patches = x[:, self.num_extra_tokens:]
        return cls_token, patches.reshape(B, *hw, -1).permute(0, 3, 1, 2)
