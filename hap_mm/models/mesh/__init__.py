"""3-D human pose and shape (3DCrowdNet design with a HAP ViT).

Imports mmpose and, when a body model is built, ``smplx``; ``import hap_mm``
does not import this package (configs add ``hap_mm.integrations.mmpose``).
"""
from .smpl_body_model import SMPLBodyModel

__all__ = ['SMPLBodyModel']
