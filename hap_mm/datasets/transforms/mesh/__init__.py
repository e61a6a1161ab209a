"""Transforms of the 3-D mesh pipeline (3DCrowdNet's data path): crop and
augmentation, original-joint and SMPL-fit targets, PoseFix-style input
joints and packing. Imports mmpose (and, when used, smplx); the parent
``hap_mm.datasets.transforms`` does not import this package."""
from .generate_mesh_input_joints import GenerateMeshInputJoints
from .generate_mesh_joint_targets import GenerateMeshJointTargets
from .generate_smpl_targets import GenerateSMPLTargets
from .mesh_affine_crop import MeshAffineCrop
from .pack_mesh_inputs import PackMeshInputs

__all__ = [
    'MeshAffineCrop', 'GenerateMeshJointTargets', 'GenerateSMPLTargets',
    'GenerateMeshInputJoints', 'PackMeshInputs'
]
