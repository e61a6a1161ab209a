from .hap_visualizer import HAPVisualizer, grey_patches, tint_patches

__all__ = ['HAPVisualizer', 'grey_patches', 'tint_patches']
