from .hap_distributed_data_parallel import HAPDistributedDataParallel

__all__ = ['HAPDistributedDataParallel']
