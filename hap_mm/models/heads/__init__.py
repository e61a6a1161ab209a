from .hap_pretrain_head import HAPPretrainHead
from .multi_branch_reid_head import MultiBranchReIDHead
from .reid_head import ReIDHead

__all__ = ['HAPPretrainHead', 'MultiBranchReIDHead', 'ReIDHead']
