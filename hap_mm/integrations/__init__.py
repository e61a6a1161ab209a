"""HAP backbones inside mmpose, mmseg and mmdet models.

Everything here needs only torch, mmcv, mmengine and mmpretrain, and is
registered in mmpretrain's registries by ``import hap_mm``. Host configs
(default scope ``mmpose`` / ``mmseg`` / ``mmdet``) reach it across scopes:

- ``backbone=dict(type='mmpretrain.HAPViT', ...)``
- ``neck=dict(type='mmpretrain.SimpleFeaturePyramid', ...)`` (ViTDet-style
  pyramid from the single stride-16 map, for mmdet)
- ``optim_wrapper=dict(constructor=
  'mmpretrain.HAPLayerDecayOptimWrapperConstructor', ...)``

The hosts' own datasets and metrics cover the downstream tasks (mmseg's
``LIPDataset``, mmdet's ``CrowdHumanDataset`` / ``CrowdHumanMetric``), so no
module here imports mmpose, mmseg or mmdet: ``hap_mm`` imports without them.
"""
from .layer_decay_optim_wrapper_constructor import HAPLayerDecayOptimWrapperConstructor
from .simple_feature_pyramid import LayerNorm2d, SimpleFeaturePyramid

__all__ = [
    'HAPLayerDecayOptimWrapperConstructor', 'LayerNorm2d',
    'SimpleFeaturePyramid'
]
