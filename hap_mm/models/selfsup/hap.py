"""HAP: part-guided masked image modeling with view alignment."""
from typing import Dict, List, Optional

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


@MODELS.register_module()
class HAP(BaseSelfSupervisor):
    """HAP (arXiv 2310.20695) as an mmpretrain self-supervised algorithm.

    Each image comes with ``V`` masks made by ``PartAwareMaskGenerator``
    (per batch in ``hap_collate``, or as a pipeline step), stored as
    ``data_sample.mask`` (V, h, w).
    ``loss`` encodes all views in ONE batched forward (views stacked on the
    batch dimension, sharing the patch embedding), decodes them, and returns

    - ``loss_rec``: normalised-pixel loss on masked patches, the mean over
      views (every view masks the same number of patches);
    - ``loss_align`` (when ``align_loss`` is set and V == 2): the
      structure-invariant alignment loss between the two views' CLS tokens
      after the encoder's final norm.

    With ``V = 1`` and no ``align_loss`` this is MAE on the same grid.

    Args:
        backbone (dict): ``HAPViT`` config.
        neck (dict): ``HAPPretrainDecoder`` config.
        head (dict): ``HAPPretrainHead`` config.
        align_loss (dict, optional): ``StructureInvariantAlignLoss`` config;
            ``None`` turns alignment off.
        **kwargs: ``data_preprocessor``, ``init_cfg``.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 align_loss: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        self.align_loss = MODELS.build(align_loss) if align_loss else None

    def extract_feat(self, inputs: torch.Tensor):
        """Unmasked features, as configured by the backbone's ``out_type``."""
        return self.backbone(inputs)

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Reconstruction (and alignment) losses for a batch.

        Args:
            inputs (torch.Tensor): Normalised images (B, 3, H, W).
            data_samples (list[DataSample]): Each with ``mask`` (V, h, w)
                or (V, N), True = masked.

        Returns:
            dict: ``loss_rec`` and, with alignment, ``loss_align``.
        """
        mask = torch.stack([ds.mask for ds in data_samples]).to(inputs.device)
        latent, mask, ids_restore = self.backbone(inputs, mask)
        num_views = latent.shape[0] // inputs.shape[0]
        pred = self.neck(latent, ids_restore)
        target = inputs.repeat(num_views, 1, 1, 1)  # view-major, as latent
        losses = dict(loss_rec=self.head.loss(pred, target, mask))
        if self.align_loss is not None:
            if num_views != 2:
                raise ValueError('the alignment loss needs exactly 2 views, '
                                 f'the masks have {num_views}')
            cls_1, cls_2 = latent[:, 0].chunk(2)
            losses['loss_align'] = self.align_loss(cls_1, cls_2)
        return losses
