"""ViT for rectangular person crops that encodes pipeline-made masks."""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from mmpretrain.models import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from mmpretrain.registry import MODELS

from ..utils.checkpoint import (
    CheckpointLoadError,
    extract_state_dict,
    load_checkpoint_file,
    to_vit_state_dict,
)
from ..utils.pos_embed import rect_sincos_pos_embed


def _pair(size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    return (size, size) if isinstance(size, int) else tuple(size)


@MODELS.register_module()
class HAPViT(VisionTransformer):
    """Vision Transformer on a rectangular patch grid, for HAP and after.

    Pre-training: ``forward(x, mask)`` embeds the patches, adds position
    embeddings and encodes only the visible ones, for one or several masked
    views of the same images. Downstream: ``forward(x)`` is mmpretrain's
    ``VisionTransformer`` (``out_type`` 'featmap' / 'cls_token' / ...,
    ``out_indices``), with the position embedding interpolated to the input.

    Weights: ``init_cfg=dict(type='Pretrained', checkpoint=PATH)`` loads a
    hap_mm checkpoint, a converted backbone (``prefix='backbone.'``), the
    authors' release or an ImageNet MAE checkpoint (timm or mmpretrain
    names), with ``torch.load(weights_only=True)`` unless
    ``unsafe_load=True`` is given in the dict. A checkpoint position
    embedding is resized (bicubic, CLS kept) from its grid: square grids are
    recognised from their length, others must be ``pretrain_img_size /
    patch_size`` (HAP's 256 x 128 by default). A tensor whose shape does not
    fit raises an error naming the key and both shapes.

    Args:
        arch (str | dict): mmpretrain ViT arch ('b', 'l', ... or a dict).
        img_size (int | tuple): Input (H, W), multiples of ``patch_size``.
        patch_size (int): Patch side in pixels.
        pos_embed_type (str): 'sincos' (fixed 2-D sin-cos, MAE/HAP
            pre-training) or 'learned' (trainable, for fine-tuning).
        pretrain_img_size (int | tuple): (H, W) the checkpoint's non-square
            position embedding was trained at.
        out_type (str): Output without mask: 'featmap' (B, C, H/p, W/p),
            'cls_token' (B, C), 'avg_featmap' (B, C) or 'raw' (B, 1 + L, C).
        with_cls_token (bool): Build the CLS token. ``False`` (ViTPose)
            gives a position embedding of the patches only: a checkpoint's
            ``cls_token`` is not loaded and the CLS slot of its position
            embedding is dropped (HAP's is all zeros). Defaults to True.
        load_final_norm (bool): Load the checkpoint's final norm (``ln1``).
            ``False`` keeps it freshly initialised (weight 1, bias 0), as
            the HAP release's pose fine-tuning does. Defaults to True.
        **kwargs: Other ``VisionTransformer`` arguments, e.g.
            ``patch_cfg=dict(padding=2)`` (ViTPose's patch embedding).
    """

    def __init__(self,
                 arch: Union[str, dict] = 'b',
                 img_size: Union[int, Sequence[int]] = (256, 128),
                 patch_size: int = 16,
                 pos_embed_type: str = 'sincos',
                 pretrain_img_size: Union[int, Sequence[int]] = (256, 128),
                 out_type: str = 'featmap',
                 with_cls_token: bool = True,
                 load_final_norm: bool = True,
                 init_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        img_size = _pair(img_size)
        for name, side in zip(('height', 'width'), img_size):
            if side % patch_size:
                raise ValueError(
                    f'img_size {img_size}: the {name} {side} is not a '
                    f'multiple of patch_size {patch_size}')
        if pos_embed_type not in ('sincos', 'learned'):
            raise ValueError("pos_embed_type must be 'sincos' or 'learned', "
                             f'got {pos_embed_type!r}')
        self.pretrained_cfg = None
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            self.pretrained_cfg, init_cfg = dict(init_cfg), None
        super().__init__(
            arch=arch,
            img_size=img_size,
            patch_size=patch_size,
            out_type=out_type,
            with_cls_token=with_cls_token,
            init_cfg=init_cfg,
            **kwargs)
        self.pos_embed_type = pos_embed_type
        self.load_final_norm = load_final_norm
        self.pos_embed.requires_grad = pos_embed_type == 'learned'
        pretrain_img_size = _pair(pretrain_img_size)
        self.pretrain_grid = (pretrain_img_size[0] // patch_size,
                              pretrain_img_size[1] // patch_size)
        self.num_patches = self.patch_resolution[0] * self.patch_resolution[1]

    # ------------------------------------------------------------ weights
    def init_weights(self) -> None:
        """MAE-style init, then the pretrained checkpoint if one is set."""
        super().init_weights()
        if self.pos_embed_type == 'sincos':
            self.pos_embed.data.copy_(
                rect_sincos_pos_embed(self.patch_resolution, self.embed_dims,
                                      self.cls_token is not None))
        w = self.patch_embed.projection.weight.data
        torch.nn.init.xavier_uniform_(w.view([w.shape[0], -1]))
        if self.cls_token is not None:
            torch.nn.init.normal_(self.cls_token, std=.02)
        if self.pretrained_cfg is not None:
            self.load_pretrained(
                self.pretrained_cfg['checkpoint'],
                prefix=self.pretrained_cfg.get('prefix'),
                unsafe_load=self.pretrained_cfg.get('unsafe_load', False))

    def load_pretrained(self,
                        path: str,
                        prefix: Optional[str] = None,
                        unsafe_load: bool = False) -> Tuple[list, list]:
        """Load encoder weights from ``path``; returns (missing, unexpected).

        Weights left out on purpose (``cls_token`` without a CLS token, the
        final norm with ``load_final_norm=False``) are logged, not listed.

        Raises:
            CheckpointLoadError: unreadable file, no encoder weights, or a
                tensor whose shape does not fit (key and shapes named).
        """
        state_dict = to_vit_state_dict(
            extract_state_dict(load_checkpoint_file(path, unsafe_load)),
            prefix)
        if not state_dict:
            raise CheckpointLoadError(
                f'{path}: no ViT encoder weights found (looked for '
                'mmpretrain, timm and backbone.-prefixed names)')
        skipped = [k for k in state_dict
                   if (k == 'cls_token' and self.cls_token is None) or
                   (k.startswith('ln1.') and not self.load_final_norm)]
        for key in skipped:
            del state_dict[key]
        own = self.state_dict()
        for key, value in state_dict.items():
            if key in own and key != 'pos_embed' and \
                    own[key].shape != value.shape:
                raise CheckpointLoadError(
                    f'{path}: {key} has shape {tuple(value.shape)} in the '
                    f'checkpoint but {tuple(own[key].shape)} in the model')
        missing, unexpected = self.load_state_dict(state_dict, strict=False)
        if not self.load_final_norm:
            missing = [k for k in missing if not k.startswith('ln1.')]
        print_log(
            f'HAPViT: loaded {len(state_dict) - len(unexpected)} tensors '
            f'from {path}; missing {list(missing)}; unexpected '
            f'{list(unexpected)}; left out on purpose {skipped}',
            logger='current')
        return list(missing), list(unexpected)

    def _is_grid(self, num_patches: int) -> bool:
        """Whether ``num_patches`` is a square grid or the pretrain grid."""
        return math.isqrt(num_patches)**2 == num_patches or \
            self.pretrain_grid[0] * self.pretrain_grid[1] == num_patches

    def _checkpoint_grid(self, num_patches: int, key: str,
                         shape: tuple) -> Tuple[int, int]:
        side = math.isqrt(num_patches)
        if side * side == num_patches:
            return side, side
        if self.pretrain_grid[0] * self.pretrain_grid[1] == num_patches:
            return self.pretrain_grid
        raise CheckpointLoadError(
            f'{key}: cannot tell the patch grid of a checkpoint position '
            f'embedding of shape {shape} ({num_patches} patches, not square '
            f'and not the pretrain grid {self.pretrain_grid}); set '
            'pretrain_img_size to the size it was trained at')

    def _prepare_pos_embed(self, state_dict, prefix, *args, **kwargs):
        """Resize a checkpoint's position embedding to this model's grid."""
        name = prefix + 'pos_embed'
        if name not in state_dict:
            return
        ckpt = state_dict[name]
        if ckpt.shape == self.pos_embed.shape:
            return
        shape = tuple(ckpt.shape)
        if ckpt.ndim != 3 or ckpt.shape[-1] != self.embed_dims or \
                ckpt.shape[1] <= self.num_extra_tokens:
            raise CheckpointLoadError(
                f'{name}: checkpoint shape {shape} does not fit the model '
                f'shape {tuple(self.pos_embed.shape)}')
        if self.cls_token is None and self._is_grid(ckpt.shape[1] - 1) and \
                not self._is_grid(ckpt.shape[1]):
            ckpt = ckpt[:, 1:]  # the CLS slot (all zeros in HAP's)
            print_log(f'HAPViT: dropped the CLS slot of {name} (no CLS token)',
                      logger='current')
            if ckpt.shape == self.pos_embed.shape:
                state_dict[name] = ckpt
                return
        src = self._checkpoint_grid(ckpt.shape[1] - self.num_extra_tokens,
                                    name, shape)
        print_log(
            f'HAPViT: resizing {name} from grid {src} to '
            f'{self.patch_resolution} ({self.interpolate_mode})',
            logger='current')
        state_dict[name] = resize_pos_embed(ckpt, src, self.patch_resolution,
                                            self.interpolate_mode,
                                            self.num_extra_tokens)

    # ------------------------------------------------------------ forward
    def forward(self,
                x: torch.Tensor,
                mask: Optional[torch.Tensor] = None,
                num_masked: Optional[int] = None):
        """Encode images, or only their visible patches when masked.

        Args:
            x (torch.Tensor): Images (B, 3, H, W).
            mask (torch.Tensor, optional): True = masked, (B, N), (B, h, w),
                (B, V, N) or (B, V, h, w) for V views of each image. Every
                row must mask the same number of patches.
            num_masked (int, optional): That number, when the caller knows
                it (``hap_collate`` checks it on the CPU). Then the forward
                makes no host sync: the count is checked on the device
                asynchronously (``torch._assert_async``; on CPU a wrong
                count raises at once). Without it the masks are counted and
                checked here, which waits for the device twice per call.

        Returns:
            Without mask, a tuple of features per ``out_indices``. With a
            mask, ``(latent, mask, ids_restore)``: latent (V*B, 1 + L_vis, C)
            after the final norm, CLS first; mask float (V*B, N); ids_restore
            (V*B, N), the decoder's un-shuffle indices. Rows are view-major:
            row ``v * B + b`` is view ``v`` of image ``b``.
        """
        if mask is None:
            return super().forward(x)
        B = x.shape[0]
        x, hw = self.patch_embed(x)
        if tuple(hw) != tuple(self.patch_resolution):
            raise ValueError(
                f'masked forward needs {self.img_size} inputs (img_size), '
                f'got a {tuple(hw)} patch grid')
        x = x + self.pos_embed[:, self.num_extra_tokens:]
        N, C = x.shape[1:]
        mask = mask.reshape(B, -1, N).transpose(0, 1).reshape(-1, N).bool()
        V = mask.shape[0] // B
        if V > 1:  # views share the patch embedding of their image
            x = x.unsqueeze(0).expand(V, -1, -1, -1).reshape(V * B, N, C)
        counts = mask.sum(1)
        if num_masked is None:
            if not bool((counts == counts[0]).all()):
                raise ValueError('every view must mask the same number of '
                                 f'patches, got counts {counts.tolist()}')
            num_masked = int(counts[0])
        else:
            torch._assert_async((counts == num_masked).all(),
                                f'every view must mask num_masked='
                                f'{num_masked} patches')
        num_visible = N - num_masked
        ids_shuffle = torch.argsort(mask.byte(), dim=1, stable=True)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, :num_visible]
        x = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, C))
        cls_token = self.cls_token + self.pos_embed[:, :self.num_extra_tokens]
        x = torch.cat((cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = self.pre_norm(self.drop_after_pos(x))
        for layer in self.layers:
            x = layer(x)
        if self.final_norm:
            x = self.ln1(x)
        return x, mask.float(), ids_restore
