"""ICFG-PEDES text-to-image person retrieval dataset."""
from mmpretrain.registry import DATASETS

from .text_person_dataset import TextPersonDataset


@DATASETS.register_module()
class ICFGPEDES(TextPersonDataset):
    """ICFG-PEDES in its public layout.

    ::

        data_root/
          ICFG-PEDES.json   # [{"split", "captions", "file_path", "id",
                            #   "processed_tokens"}, ...]
          imgs/test/0001/0001_002_01_0303morning_0015_0.jpg ...
                            # <data_root>/imgs/<file_path>

    Splits ``train`` (3,102 ids) and ``test`` (1,000 ids, 19,848 captions);
    the public file has no validation split. See :class:`TextPersonDataset`.
    """

    ANN_FILE = 'ICFG-PEDES.json'
    PATH_KEY = 'file_path'
    SPLITS = ('train', 'test')
