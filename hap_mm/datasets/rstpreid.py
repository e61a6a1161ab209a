"""RSTPReid text-to-image person retrieval dataset."""
from mmpretrain.registry import DATASETS

from .text_person_dataset import TextPersonDataset


@DATASETS.register_module()
class RSTPReid(TextPersonDataset):
    """RSTPReid in its public layout.

    ::

        data_root/
          data_captions.json   # [{"id", "img_path", "captions", "split"},
                               #  ...]
          imgs/3901_c14_0007.jpg ...   # <data_root>/imgs/<img_path>

    Splits ``train`` (3,701 ids), ``val`` and ``test`` (200 ids each, 1,000
    images and 2,000 captions each). See :class:`TextPersonDataset`.
    """

    ANN_FILE = 'data_captions.json'
    PATH_KEY = 'img_path'
    SPLITS = ('train', 'val', 'test')
