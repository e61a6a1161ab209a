from .hap_visualizer import HAPVisualizer, grey_patches, tint_patches
from .mesh import affine_points, draw_mesh_points, project_points

__all__ = [
    'HAPVisualizer', 'affine_points', 'draw_mesh_points', 'grey_patches',
    'project_points', 'tint_patches'
]
