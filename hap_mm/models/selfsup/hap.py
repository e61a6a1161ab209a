"""HAP: part-guided masked image modeling with view alignment."""
import math
from typing import Dict, List, Optional

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


@MODELS.register_module()
class HAP(BaseSelfSupervisor):
    """HAP (arXiv 2310.20695) as an mmpretrain self-supervised algorithm.

    Each image comes with ``V`` masks made by ``PartAwareMaskGenerator``
    (per batch in ``hap_collate``: one (B, V, h, w) tensor, or as a
    pipeline step: ``data_sample.mask`` (V, h, w)).
    ``loss`` encodes all views in ONE batched forward (views stacked on the
    batch dimension, sharing the patch embedding), or with
    ``batch_views=False`` one view after the other, decodes them, and
    returns

    - ``loss_rec``: normalised-pixel loss on masked patches, the mean over
      views (every view masks the same number of patches);
    - ``loss_align`` (when ``align_loss`` is set and V == 2): the
      structure-invariant alignment loss between the two views' CLS tokens
      after the encoder's final norm, weighted (it is in the total);
    - ``align_infonce`` (with ``loss_align``): the same InfoNCE unweighted
      and detached, logged only (no ``loss`` in its name), comparable with
      the release's ``loss_ali``.

    With ``V = 1`` and no ``align_loss`` this is MAE on the same grid.

    Args:
        backbone (dict): ``HAPViT`` config.
        neck (dict): ``HAPPretrainDecoder`` config.
        head (dict): ``HAPPretrainHead`` config.
        align_loss (dict, optional): ``StructureInvariantAlignLoss`` config;
            ``None`` turns alignment off.
        batch_views (bool, optional): Encode and decode the views as one
            batch (True) or one after the other (False); the losses and
            gradients are the same. None (default) picks by the device of
            the inputs: one after the other on CPU, where the batched step
            was never faster (at ViT-B batch 32 on 2 cores it page-faulted
            about 1.4 GB of fresh memory per step and took 10-15% longer;
            tools/analysis/benchmark.py, docs/benchmarks.md), batched on
            other devices (CUDA), where one larger batch keeps the GPU
            busier.
        **kwargs: ``data_preprocessor``, ``init_cfg``.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 align_loss: Optional[dict] = None,
                 batch_views: Optional[bool] = None,
                 **kwargs) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        self.align_loss = MODELS.build(align_loss) if align_loss else None
        self.batch_views = batch_views

    def forward(self, inputs: torch.Tensor, data_samples=None,
                mode: str = 'tensor', **kwargs):
        """``BaseSelfSupervisor.forward``; in ``'loss'`` mode the batch's
        ``mask`` and ``num_masked`` from ``HAPDataPreprocessor`` go on to
        :meth:`loss`."""
        if mode == 'loss':
            return self.loss(inputs, data_samples, **kwargs)
        return super().forward(inputs, data_samples, mode)

    def views_batched(self, device: torch.device) -> bool:
        """Whether :meth:`loss` batches the views for inputs on ``device``
        (``batch_views``, or by the device when it is None)."""
        if self.batch_views is not None:
            return bool(self.batch_views)
        return torch.device(device).type != 'cpu'

    def extract_feat(self, inputs: torch.Tensor):
        """Unmasked features, as configured by the backbone's ``out_type``."""
        return self.backbone(inputs)

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Reconstruction (and alignment) losses for a batch.

        Args:
            inputs (torch.Tensor): Normalised images (B, 3, H, W).
            data_samples (list[DataSample]): Each with ``mask`` (V, h, w)
                or (V, N), True = masked, unless ``mask`` is given.
            **kwargs: ``mask`` bool (B, V, h, w) on the device and
                ``num_masked`` (int, per view), as ``hap_collate`` and
                ``HAPDataPreprocessor`` give them: one tensor for the
                batch, and no host sync in the encoder.

        Returns:
            dict: ``loss_rec`` and, with alignment, ``loss_align`` and
            ``align_infonce``.
        """
        mask, num_masked = kwargs.get('mask'), kwargs.get('num_masked')
        if mask is None:  # per-sample masks (a pipeline step)
            mask = torch.stack([ds.mask for ds in data_samples]).to(
                inputs.device, non_blocking=True)
        if self.views_batched(inputs.device):
            latent, mask, ids_restore = self.backbone(inputs, mask,
                                                      num_masked)
            num_views = latent.shape[0] // inputs.shape[0]
            pred = self.neck(latent, ids_restore)
            target = inputs.repeat(num_views, 1, 1, 1)  # view-major
            loss_rec = self.head.loss(pred, target, mask)
            cls = latent[:, 0].chunk(num_views)
        else:
            # (B, V, N): every view masks the same number of patches, so
            # the mean of the views' losses is the batched loss
            num_patches = math.prod(self.backbone.patch_resolution)
            views = mask.reshape(inputs.shape[0], -1, num_patches).unbind(1)
            num_views, rec, cls = len(views), [], []
            for view in views:
                latent, view_mask, ids_restore = self.backbone(
                    inputs, view, num_masked)
                pred = self.neck(latent, ids_restore)
                rec.append(self.head.loss(pred, inputs, view_mask))
                cls.append(latent[:, 0])
            loss_rec = sum(rec) / num_views
        losses = dict(loss_rec=loss_rec)
        if self.align_loss is not None:
            if num_views != 2:
                raise ValueError('the alignment loss needs exactly 2 views, '
                                 f'the masks have {num_views}')
            infonce = self.align_loss.infonce(*cls)
            losses['loss_align'] = self.align_loss.loss_weight * infonce
            losses['align_infonce'] = infonce.detach()
        return losses
