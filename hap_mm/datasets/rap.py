"""RAP (v1) pedestrian attribute dataset."""
from mmpretrain.registry import DATASETS

from .attribute_pickle_dataset import AttributePickleDataset


@DATASETS.register_module()
class RAP(AttributePickleDataset):
    """RAP v1: 41,585 images; 51 attributes evaluated.

    ::

        data_root/
          dataset.pkl     # see AttributePickleDataset
          RAP_dataset/CAM01_2014-02-15_20140215161032-20140215162620_tarid0_frame218_line1.png ...

    Args:
        data_root (str): Dataset root directory.
        img_dir (str): Image folder, relative to ``data_root``.
        **kwargs: :class:`AttributePickleDataset` arguments (``split``,
            ``partition_index``, ``attributes``, ``pipeline``, ...).
    """  # noqa: E501

    def __init__(self, data_root: str, img_dir: str = 'RAP_dataset',
                 **kwargs) -> None:
        super().__init__(data_root=data_root, img_dir=img_dir, **kwargs)
