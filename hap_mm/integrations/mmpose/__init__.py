"""hap_mm modules that subclass or register into mmpose's own (they import
mmpose, and the mesh modules smplx, so ``import hap_mm`` does not import
them). A config that uses them imports this package:
``custom_imports=dict(imports=['hap_mm', 'hap_mm.integrations.mmpose'])``;
the classes register into mmpose's registries (default scope ``mmpose``):
the MoE top-down estimator and the 3-D mesh path (readers, transforms,
``HAPMeshEstimator``, ``MeshMetric``)."""
from ...datasets import mesh as _mesh_datasets  # noqa: F401
from ...datasets.transforms import mesh as _mesh_transforms  # noqa: F401
from ...evaluation.metrics.mesh_metric import MeshMetric
from ...models import mesh as _mesh_models  # noqa: F401
from .topdown_moe_pose_estimator import TopdownMoEPoseEstimator

__all__ = ['MeshMetric', 'TopdownMoEPoseEstimator']
