"""hap_mm modules that subclass mmpose's own (they import mmpose, so
``import hap_mm`` does not import them). A config that uses them imports
this package: ``custom_imports=dict(imports=['hap_mm',
'hap_mm.integrations.mmpose'])``; the classes register into mmpose's
registries (default scope ``mmpose``)."""
from .topdown_moe_pose_estimator import TopdownMoEPoseEstimator

__all__ = ['TopdownMoEPoseEstimator']
