"""hap_mm: HAP pre-training and HAP backbones for OpenMMLab.

Importing the package registers every hap_mm module into mmpretrain's
registries (scope ``mmpretrain``); configs load it with
``custom_imports = dict(imports=['hap_mm'], allow_failed_imports=False)``.
"""
from . import (  # noqa: F401,E402
    apis,
    datasets,
    engine,
    evaluation,
    integrations,
    models,
    utils,
    visualization,
)
from .version import __version__

__all__ = ['__version__']
