"""Config loading shared by the command-line tools."""
from typing import Optional

from mmengine.config import Config
from mmengine.registry import init_default_scope


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config, apply ``--cfg-options`` and enter its default scope."""
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return cfg
