"""3-D human pose and shape (3DCrowdNet design with a HAP ViT).

Imports mmpose and, when a body model is built, ``smplx``; ``import hap_mm``
does not import this package (configs add ``hap_mm.integrations.mmpose``).
"""
from .hap_mesh_estimator import HAPMeshEstimator
from .mesh_init import load_mesh_backbone
from .mesh_losses import mesh_losses
from .mesh_nets import Pose2Feat, PositionNet, RotationNet, graph_adjacency
from .rotations import rot6d_to_axis_angle, rotmat_to_axis_angle
from .smpl_body_model import SMPLBodyModel
from .vposer_decoder import VPoserDecoder

__all__ = [
    'HAPMeshEstimator', 'SMPLBodyModel', 'VPoserDecoder', 'Pose2Feat',
    'PositionNet', 'RotationNet', 'graph_adjacency', 'mesh_losses',
    'load_mesh_backbone', 'rot6d_to_axis_angle', 'rotmat_to_axis_angle'
]
