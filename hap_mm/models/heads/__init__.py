from .hap_pretrain_head import HAPPretrainHead
from .multi_branch_reid_head import MultiBranchReIDHead

__all__ = ['HAPPretrainHead', 'MultiBranchReIDHead']
