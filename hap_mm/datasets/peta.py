"""PETA pedestrian attribute dataset."""
from mmpretrain.registry import DATASETS

from .attribute_pickle_dataset import AttributePickleDataset


@DATASETS.register_module()
class PETA(AttributePickleDataset):
    """PETA: 19,000 images; 35 attributes evaluated.

    ::

        data_root/
          dataset.pkl     # see AttributePickleDataset
          images/00001.png ...

    Args:
        data_root (str): Dataset root directory.
        img_dir (str): Image folder, relative to ``data_root``.
        **kwargs: :class:`AttributePickleDataset` arguments (``split``,
            ``partition_index``, ``attributes``, ``pipeline``, ...).
    """

    def __init__(self, data_root: str, img_dir: str = 'images',
                 **kwargs) -> None:
        super().__init__(data_root=data_root, img_dir=img_dir, **kwargs)
