"""BNNeck head for person re-identification."""
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


@MODELS.register_module()
class ReIDHead(BaseModule):
    """BNNeck: triplet loss before a BatchNorm, ID loss after it.

    The backbone feature f (B, C) (e.g. HAPViT's CLS token) feeds the
    triplet loss; BN(f) (B, C), a BatchNorm1d without a trainable shift,
    feeds a bias-free linear ID classifier (B, num_classes) and its
    cross-entropy (Luo et al., "Bag of Tricks and a Strong Baseline for Deep
    Person Re-identification", 2019). For retrieval, ``predict`` sets each
    sample's ``pred_feature`` (C,) to BN(f) (or f).

    Args:
        num_classes (int): Training identities.
        in_channels (int): Feature size C.
        loss_id (dict): ID loss config on (logits, labels); label smoothing
            0.1 by default.
        loss_triplet (dict): Metric loss config on (f, labels).
        feature_after_bn (bool): Retrieve with BN(f) (True) or f.
        init_cfg (dict, optional): Init of the classifier.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 loss_id: dict = dict(
                     type='LabelSmoothLoss',
                     label_smooth_val=0.1,
                     mode='original',
                     loss_weight=1.0),
                 loss_triplet: dict = dict(
                     type='HardMiningTripletLoss', margin=0.3,
                     loss_weight=1.0),
                 feature_after_bn: bool = True,
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Linear', std=0.001)) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.feature_after_bn = feature_after_bn
        self.bn_neck = nn.BatchNorm1d(in_channels)
        self.bn_neck.bias.requires_grad_(False)
        self.classifier = nn.Linear(in_channels, num_classes, bias=False)
        self.loss_id = MODELS.build(loss_id)
        self.loss_triplet = MODELS.build(loss_triplet)

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """The last backbone output f, (B, C)."""
        return feats[-1]

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """ID logits (B, num_classes)."""
        return self.classifier(self.bn_neck(self.pre_logits(feats)))

    def loss(self, feats: Tuple[torch.Tensor],
             data_samples: List[DataSample]) -> dict:
        """``loss_id`` and ``loss_triplet`` of a batch whose samples carry
        ``gt_label``, the relabelled pid in 0..num_classes-1."""
        feat = self.pre_logits(feats)
        logits = self.classifier(self.bn_neck(feat))
        labels = torch.cat([s.gt_label for s in data_samples]).to(
            feat.device)
        if int(labels.max()) >= self.num_classes:
            raise ValueError(
                f'ReIDHead: gt_label {int(labels.max())} but num_classes='
                f'{self.num_classes}; set num_classes to the number of '
                'training identities (len(dataset.metainfo["classes"]))')
        return dict(
            loss_id=self.loss_id(logits, labels),
            loss_triplet=self.loss_triplet(feat, labels))

    def retrieval_feature(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """The test-time feature (B, C): BN(f) or f (``feature_after_bn``),
        before L2 normalisation."""
        feat = self.pre_logits(feats)
        return self.bn_neck(feat) if self.feature_after_bn else feat

    def predict(
            self,
            feats: Tuple[torch.Tensor],
            data_samples: Optional[List[Optional[DataSample]]] = None
    ) -> List[DataSample]:
        """Samples with ``pred_feature`` (C,) set, for retrieval."""
        feat = self.retrieval_feature(feats)
        if data_samples is None:
            data_samples = [None] * feat.shape[0]
        out = []
        for sample, vector in zip(data_samples, feat):
            sample = DataSample() if sample is None else sample
            sample.set_field(vector, 'pred_feature', dtype=torch.Tensor)
            out.append(sample)
        return out
