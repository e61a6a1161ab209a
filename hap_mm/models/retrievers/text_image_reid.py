"""Text-to-image person retrieval model (the HAP release's text ReID)."""
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmpretrain.registry import MODELS


@MODELS.register_module()
class TextImageReID(BaseModel):
    """Image and caption embeddings in one space, trained with identity
    classification and a cross-modal ranking loss.

    - image: ``image_backbone`` (HAPViT with ``out_type='featmap'`` and
      ``final_norm=False``: all patch tokens without the final norm,
      (B, C, h, w)) max-pooled over the patches -> (B, C);
    - text: ``text_encoder`` (:class:`BertBiLSTMTextEncoder` or
      :class:`VocabBiLSTMTextEncoder`) of the captions -> (B, C);
    - one shared bias-free projection C -> ``embed_dims`` (the release's
      1x1 conv, kaiming fan_out) for both, giving the embeddings;
    - training: one shared Linear(embed_dims, num_classes) identity
      classifier (N(0, 0.001) weight, zero bias) with ``loss_id`` on both
      embeddings, plus ``loss_rank`` on the pair of embeddings;
    - prediction: ``pred_image_feature`` and ``pred_text_feature``
      (embed_dims,) on each data sample, for
      :class:`TextImageRetrievalMetric`.

    Inputs are the images (B, 3, H, W); each data sample carries its
    ``caption`` (metainfo) and ``gt_label``.

    Args:
        image_backbone (dict): Image encoder config.
        text_encoder (dict): Caption encoder config.
        num_classes (int): Training identities.
        feat_dims (int): Width of both branches' pooled features.
        embed_dims (int): Embedding width.
        loss_id (dict): Identity loss, applied to each modality.
        loss_rank (dict): Cross-modal ranking loss.
        data_preprocessor (dict, optional): Defaults to mmpretrain's
            ``ClsDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 image_backbone: dict,
                 text_encoder: dict,
                 num_classes: int,
                 feat_dims: int = 768,
                 embed_dims: int = 384,
                 loss_id: dict = dict(type='CrossEntropyLoss'),
                 loss_rank: dict = dict(type='CrossModalRankingLoss',
                                        margin=0.2),
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        data_preprocessor = dict(data_preprocessor or {})
        data_preprocessor.setdefault('type', 'mmpretrain.ClsDataPreprocessor')
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.image_backbone = MODELS.build(image_backbone)
        self.text_encoder = MODELS.build(text_encoder)
        self.projection = nn.Linear(feat_dims, embed_dims, bias=False)
        nn.init.kaiming_normal_(self.projection.weight, mode='fan_out')
        self.classifier = nn.Linear(embed_dims, num_classes)
        nn.init.normal_(self.classifier.weight, std=0.001)
        nn.init.zeros_(self.classifier.bias)
        self.loss_id = MODELS.build(loss_id)
        self.loss_rank = MODELS.build(loss_rank)

    def init_weights(self) -> None:
        """Initialise the backbones (e.g. load the HAP checkpoint); the
        projection and classifier keep their release initialisation."""
        self.image_backbone.init_weights()
        self.text_encoder.init_weights()

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, embed_dims)."""
        featmap = self.image_backbone(images)[-1]
        return self.projection(featmap.flatten(2).max(dim=2).values)

    def embed_captions(self, captions: List[str]) -> torch.Tensor:
        """B captions -> (B, embed_dims)."""
        return self.projection(self.text_encoder(captions))

    def forward(self, inputs: torch.Tensor, data_samples=None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.embed_images(inputs)
        raise RuntimeError(f'Invalid mode "{mode}".')

    def loss(self, inputs: torch.Tensor,
             data_samples) -> Dict[str, torch.Tensor]:
        image = self.embed_images(inputs)
        text = self.embed_captions([s.caption for s in data_samples])
        labels = torch.cat([s.gt_label for s in data_samples]).to(image.device)
        return dict(
            loss_id_image=self.loss_id(self.classifier(image), labels),
            loss_id_text=self.loss_id(self.classifier(text), labels),
            loss_rank=self.loss_rank(image, text, labels))

    def predict(self, inputs: torch.Tensor, data_samples):
        image = self.embed_images(inputs)
        text = self.embed_captions([s.caption for s in data_samples])
        for sample, img_feat, txt_feat in zip(data_samples, image, text):
            sample.set_field(img_feat, 'pred_image_feature')
            sample.set_field(txt_feat, 'pred_text_feature')
        return data_samples
