"""Frozen BERT + BiLSTM caption encoder."""
import os.path as osp
from typing import List

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from ..utils.bilstm_pool import BiLSTMPool


@MODELS.register_module()
class BertBiLSTMTextEncoder(BaseModule):
    """Captions -> frozen BERT last hidden states -> :class:`BiLSTMPool`.

    BERT and its WordPiece tokenizer are loaded from a LOCAL directory in
    Hugging Face format (``config.json``, the weights, ``vocab.txt``; e.g.
    ``bert-base-uncased`` saved once with ``save_pretrained``). Nothing is
    downloaded. BERT is frozen and stays in eval mode (dropout off) even
    when the model is put in train mode; it is not a registered submodule,
    so checkpoints hold only the BiLSTM and BERT follows the BiLSTM's
    device at the first forward. Captions are tokenised with
    [CLS]/[SEP] for training and testing alike, truncated to
    ``max_length`` tokens and padded to the longest in the batch. Needs the
    optional package ``transformers`` (``pip install hap_mm[text_reid]``).

    Args:
        bert_path (str): Local BERT directory.
        lstm_dims (int): BiLSTM hidden width = output width (768).
        max_length (int): Tokens per caption, special tokens included.
        pool_padding (bool): See :class:`BiLSTMPool`.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 bert_path: str,
                 lstm_dims: int = 768,
                 max_length: int = 100,
                 pool_padding: bool = False,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not osp.isdir(bert_path):
            raise FileNotFoundError(
                f'BertBiLSTMTextEncoder: BERT directory {bert_path} not '
                'found; see docs/text_reid.md for how to save '
                'bert-base-uncased there')
        from transformers import BertModel, BertTokenizer
        self.tokenizer = BertTokenizer.from_pretrained(bert_path)
        bert = BertModel.from_pretrained(bert_path, add_pooling_layer=False)
        bert.requires_grad_(False)
        # Held outside the module tree: train() never reaches it (it stays
        # in eval mode), the optimizer never sees it and checkpoints do not
        # store it (it is reloaded from bert_path).
        self._frozen = [bert.eval()]
        self.max_length = max_length
        self.pool = BiLSTMPool(bert.config.hidden_size, lstm_dims,
                               pool_padding)

    @property
    def bert(self):
        """The frozen BERT (eval mode, not a registered submodule)."""
        return self._frozen[0]

    def forward(self, captions: List[str]) -> torch.Tensor:
        """B captions -> (B, lstm_dims)."""
        device = self.pool.lstm.weight_ih_l0.device
        if self.bert.device != device:
            self.bert.to(device)
        tokens = self.tokenizer(list(captions), padding=True,
                                truncation=True, max_length=self.max_length,
                                return_tensors='pt').to(device)
        with torch.no_grad():
            hidden = self.bert(input_ids=tokens['input_ids'],
                               attention_mask=tokens['attention_mask']
                               ).last_hidden_state
        return self.pool(hidden, tokens['attention_mask'].sum(1))
