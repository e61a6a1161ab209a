"""The HAP release's ReID heads: plain ViT (no BNNeck) and ViT-lem."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


@MODELS.register_module()
class MultiBranchReIDHead(BaseModule):
    """ID classifiers and triplet losses on one or several feature branches.

    Branch k takes a feature f_k (B, C_k), the last ``len(in_channels)``
    entries of the neck's (or backbone's) outputs. Its logits are
    ``Linear_k(f_k)`` or, with ``bnneck=True``, ``Linear_k(BN_k(f_k))``
    where BN_k is a BatchNorm1d whose shift is frozen at 0 (BNNeck). The
    losses average over the branches::

        loss_id      = loss_id(.)      mean over k of CE(logits_k, y)
        loss_triplet = loss_triplet(.) mean over k of Tri(f_k, y)

    (each with its ``loss_weight``, 0.5 and 0.5 by default: the release's
    ``0.5 * CE + 0.5 * Tri``; the triplet loss is the soft-margin batch-hard
    one on the features before BN). For retrieval, ``predict`` sets each
    sample's ``pred_feature`` to concat_k f_k (sum of C_k,), before BN;
    :class:`ReIDMetric` L2-normalises it.

    The HAP release's models (``[R]models/models_vit.py``,
    ``models_lem.py``):

    - plain ViT: ``in_channels=(768,)``, ``bnneck=False`` (CE and triplet on
      the same LN CLS feature; test feature the LN CLS token, 768-d);
    - ViT-lem: ``in_channels=(768, 1536)``, ``bnneck=True`` after
      :class:`LocalityEnhancedModule` (test feature 2304-d).

    Init: the first classifier trunc-normal (std 0.02) with zero bias (timm's
    ViT head init); the other layers keep PyTorch's default, as in the
    release.

    Args:
        num_classes (int): Training identities.
        in_channels (Sequence[int]): C_k of each branch.
        bnneck (bool): BN_k between f_k and its classifier.
        loss_id (dict): ID loss config on (logits, labels).
        loss_triplet (dict): Metric loss config on (f_k, labels).
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: Sequence[int] = (768, ),
                 bnneck: bool = False,
                 loss_id: dict = dict(
                     type='CrossEntropyLoss', loss_weight=0.5),
                 loss_triplet: dict = dict(
                     type='HardMiningTripletLoss', margin=None,
                     loss_weight=0.5),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.in_channels = tuple(in_channels)
        self.necks = nn.ModuleList()
        if bnneck:
            for channels in self.in_channels:
                bn = nn.BatchNorm1d(channels)
                bn.bias.requires_grad_(False)
                self.necks.append(bn)
        else:
            self.necks.extend(nn.Identity() for _ in self.in_channels)
        self.classifiers = nn.ModuleList(
            nn.Linear(channels, num_classes) for channels in self.in_channels)
        self.loss_id = MODELS.build(loss_id)
        self.loss_triplet = MODELS.build(loss_triplet)

    def init_weights(self) -> None:
        """timm's head init for the first classifier, then ``init_cfg``."""
        super().init_weights()
        nn.init.trunc_normal_(self.classifiers[0].weight, std=0.02)
        nn.init.zeros_(self.classifiers[0].bias)

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> List[torch.Tensor]:
        """The branch features f_k, (B, C_k) each."""
        feats = list(feats[-len(self.in_channels):])
        for k, (feat, channels) in enumerate(zip(feats, self.in_channels)):
            if feat.ndim != 2 or feat.shape[1] != channels:
                raise ValueError(
                    f'MultiBranchReIDHead: branch {k} expects (B, '
                    f'{channels}) features, got {tuple(feat.shape)}')
        return feats

    def forward(self, feats: Tuple[torch.Tensor]) -> List[torch.Tensor]:
        """ID logits of each branch, (B, num_classes) each."""
        return [
            classifier(neck(feat)) for feat, neck, classifier in zip(
                self.pre_logits(feats), self.necks, self.classifiers)
        ]

    def loss(self, feats: Tuple[torch.Tensor],
             data_samples: List[DataSample]) -> dict:
        """``loss_id`` and ``loss_triplet`` of a batch whose samples carry
        ``gt_label``, the relabelled pid in 0..num_classes-1."""
        branch_feats = self.pre_logits(feats)
        labels = torch.cat([s.gt_label for s in data_samples]).to(
            branch_feats[0].device)
        if int(labels.max()) >= self.num_classes:
            raise ValueError(
                f'MultiBranchReIDHead: gt_label {int(labels.max())} but '
                f'num_classes={self.num_classes}; set num_classes to the '
                'number of training identities '
                '(len(dataset.metainfo["classes"]))')
        num = len(branch_feats)
        loss_id = sum(
            self.loss_id(classifier(neck(feat)), labels)
            for feat, neck, classifier in zip(branch_feats, self.necks,
                                              self.classifiers)) / num
        loss_triplet = sum(
            self.loss_triplet(feat, labels) for feat in branch_feats) / num
        return dict(loss_id=loss_id, loss_triplet=loss_triplet)

    def retrieval_feature(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """The test-time feature concat_k f_k, (B, sum of C_k), before BN
        and before L2 normalisation."""
        return torch.cat(self.pre_logits(feats), dim=1)

    def predict(
            self,
            feats: Tuple[torch.Tensor],
            data_samples: Optional[List[Optional[DataSample]]] = None
    ) -> List[DataSample]:
        """Samples with ``pred_feature`` = concat_k f_k (sum of C_k,)."""
        feat = self.retrieval_feature(feats)
        if data_samples is None:
            data_samples = [None] * feat.shape[0]
        out = []
        for sample, vector in zip(data_samples, feat):
            sample = DataSample() if sample is None else sample
            sample.set_field(vector, 'pred_feature', dtype=torch.Tensor)
            out.append(sample)
        return out
