"""3-D human mesh recovery data (mmpose scope): readers of the public
3DPW / Human3.6M / MuCo / NeuralAnnot files, the 1:1 pool mixing of the
release, and the joint sets.
Imported by ``hap_mm.integrations.mmpose``, not by ``import hap_mm``."""
from . import joint_sets
from .coco_smpl import MeshCOCODataset
from .human36m import MeshHuman36MDataset
from .mesh_base_dataset import MeshBaseDataset
from .mesh_multiple_datasets import MeshMultipleDatasets
from .mpii_smpl import MeshMPIIDataset
from .muco import MeshMuCoDataset
from .neuralannot_dataset import NeuralAnnotDataset
from .pw3d import MeshPW3DDataset

__all__ = [
    'joint_sets', 'MeshBaseDataset', 'NeuralAnnotDataset', 'MeshPW3DDataset',
    'MeshHuman36MDataset', 'MeshMuCoDataset', 'MeshCOCODataset',
    'MeshMPIIDataset', 'MeshMultipleDatasets'
]
