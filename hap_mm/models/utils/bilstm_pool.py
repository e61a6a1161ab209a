"""Bidirectional LSTM over token features, max-pooled over time."""
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class BiLSTMPool(nn.Module):
    """1-layer bidirectional LSTM without bias on packed sequences; the
    forward and backward outputs are averaged, then max-pooled over time.

    Args:
        in_dims (int): Token feature width.
        hidden_dims (int): LSTM hidden width = output width.
        pool_padding (bool): Max-pool over the whole padded length (padding
            positions are zeros), as the text ReID release does, instead of
            over the valid tokens only. Defaults to False.
    """

    def __init__(self, in_dims: int, hidden_dims: int,
                 pool_padding: bool = False) -> None:
        super().__init__()
        self.lstm = nn.LSTM(in_dims, hidden_dims, num_layers=1, bias=False,
                            batch_first=True, bidirectional=True)
        self.hidden_dims = hidden_dims
        self.pool_padding = pool_padding

    def forward(self, tokens: torch.Tensor,
                lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, in_dims) token features, (B,) valid lengths (>= 1) ->
        (B, hidden_dims)."""
        B, T = tokens.shape[:2]
        packed = pack_padded_sequence(tokens, lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
        out = out.view(B, T, 2, self.hidden_dims).mean(2)
        if not self.pool_padding:
            valid = torch.arange(T, device=out.device)[None] < \
                lengths.to(out.device)[:, None]
            out = out.masked_fill(~valid[..., None], float('-inf'))
        return out.max(dim=1).values
