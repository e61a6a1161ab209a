"""Caption encoder with a vocabulary of the training captions."""
import re
from collections import Counter
from typing import List

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import DATASETS, MODELS

from ..utils.bilstm_pool import BiLSTMPool

_WORD = re.compile(r'[a-z0-9]+')


def caption_words(caption: str) -> List[str]:
    """Lower-cased alphanumeric words of a caption."""
    return _WORD.findall(caption.lower())


@MODELS.register_module()
class VocabBiLSTMTextEncoder(BaseModule):
    """Captions -> learned word embeddings -> :class:`BiLSTMPool`; needs no
    downloaded weights.

    The vocabulary is the words occurring at least ``min_count`` times in
    the captions of ``vocab_dataset`` (a text ReID training set config; the
    release's LSTM vocabulary also uses count >= 2). Id 0 is padding, 1 an
    unknown word. The vocabulary is saved in the state dict (extra state),
    so a checkpoint evaluates with the vocabulary it was trained with. The
    HAP paper's numbers used BERT (:class:`BertBiLSTMTextEncoder`).

    Args:
        vocab_dataset (dict): Dataset config whose samples have ``caption``.
        embed_dims (int): Word embedding width.
        lstm_dims (int): BiLSTM hidden width = output width.
        min_count (int): Minimum word count to enter the vocabulary.
        max_length (int): Words per caption kept.
        pool_padding (bool): See :class:`BiLSTMPool`.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 vocab_dataset: dict,
                 embed_dims: int = 768,
                 lstm_dims: int = 768,
                 min_count: int = 2,
                 max_length: int = 100,
                 pool_padding: bool = False,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        dataset = DATASETS.build(dict(vocab_dataset, pipeline=[]))
        counts = Counter(
            word for i in range(len(dataset))
            for word in caption_words(dataset.get_data_info(i)['caption']))
        self.words = sorted(w for w, c in counts.items() if c >= min_count)
        self.index = {w: i + 2 for i, w in enumerate(self.words)}
        self.embedding = nn.Embedding(len(self.words) + 2, embed_dims,
                                      padding_idx=0)
        self.max_length = max_length
        self.pool = BiLSTMPool(embed_dims, lstm_dims, pool_padding)

    def get_extra_state(self) -> dict:
        return {'words': self.words}

    def set_extra_state(self, state: dict) -> None:
        if len(state['words']) + 2 != self.embedding.num_embeddings:
            raise ValueError(
                f'VocabBiLSTMTextEncoder: the checkpoint vocabulary has '
                f'{len(state["words"])} words, this model '
                f'{self.embedding.num_embeddings - 2}')
        self.words = list(state['words'])
        self.index = {w: i + 2 for i, w in enumerate(self.words)}

    def forward(self, captions: List[str]) -> torch.Tensor:
        """B captions -> (B, lstm_dims). A caption without any word is one
        unknown word."""
        ids = [[self.index.get(w, 1)
                for w in caption_words(c)][:self.max_length] or [1]
               for c in captions]
        lengths = torch.tensor([len(x) for x in ids])
        device = self.embedding.weight.device
        padded = torch.zeros(len(ids), int(lengths.max()), dtype=torch.long)
        for row, x in enumerate(ids):
            padded[row, :len(x)] = torch.tensor(x)
        return self.pool(self.embedding(padded.to(device)), lengths)
