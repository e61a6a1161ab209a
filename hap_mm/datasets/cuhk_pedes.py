"""CUHK-PEDES text-to-image person retrieval dataset."""
from mmpretrain.registry import DATASETS

from .text_person_dataset import TextPersonDataset


@DATASETS.register_module()
class CUHKPEDES(TextPersonDataset):
    """CUHK-PEDES in its public layout.

    ::

        data_root/
          reid_raw.json   # [{"split", "captions", "file_path", "id",
                          #   "processed_tokens"}, ...]
          imgs/CUHK01/0363004.png ...   # <data_root>/imgs/<file_path>

    Splits ``train`` (11,003 ids), ``val`` and ``test`` (1,000 ids, 3,074
    images, 6,156 captions). All training ids are kept (the release drops
    three); ``processed_tokens`` is not used. See
    :class:`TextPersonDataset`.
    """

    ANN_FILE = 'reid_raw.json'
    PATH_KEY = 'file_path'
    SPLITS = ('train', 'val', 'test')
