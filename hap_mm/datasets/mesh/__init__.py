"""3-D human mesh recovery data (mmpose scope): readers of the public
3DPW / Human3.6M / MuCo / NeuralAnnot files, and their joint sets.
Imported by ``hap_mm.integrations.mmpose``, not by ``import hap_mm``."""
from . import joint_sets

__all__ = ['joint_sets']
