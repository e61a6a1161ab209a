"""Person re-identification retrieval metrics (Market-1501 protocol)."""
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

# Queries ranked per block in reid_metrics: bounds the (block, G) work arrays.
_QUERY_BLOCK = 256
# Bytes of work memory per (query, gallery) entry while a block is ranked:
# the distances (4), the sort order (8), four masks (4), two int32 running
# counts (8), the float64 precision and its temporaries (16), with slack.
_BYTES_PER_ENTRY = 48
# Work memory a chunk of reid_metrics_from_features may use by default.
_CHUNK_BYTES = 256 * 2**20


def _check_labels(num_q: int, num_g: int, what: str, q_pids: np.ndarray,
                  g_pids: np.ndarray, q_camids: np.ndarray,
                  g_camids: np.ndarray) -> None:
    for name, arr, size in (('q_pids', q_pids, num_q),
                            ('q_camids', q_camids, num_q),
                            ('g_pids', g_pids, num_g),
                            ('g_camids', g_camids, num_g)):
        if arr.shape != (size, ):
            raise ValueError(f'{name} must have shape ({size},) to match '
                             f'{what}, got {arr.shape}')


def _rank_block(distmat: np.ndarray, q_pids: np.ndarray, g_pids: np.ndarray,
                q_camids: np.ndarray,
                g_camids: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """First true-match rank (1-based) and AP of each query of a block with
    a true match left; the others are dropped. distmat is (b, G)."""
    order = np.argsort(distmat, axis=1, kind='stable')
    same_pid = g_pids[order] == q_pids[:, None]
    keep = ~(same_pid & (g_camids[order] == q_camids[:, None]))
    match = same_pid & keep  # (b, G) in ranked order
    valid = match.any(axis=1)
    keep, match = keep[valid], match[valid]
    # 1-based position among kept entries, and running match count.
    position = np.cumsum(keep, axis=1, dtype=np.int32)
    hits = np.cumsum(match, axis=1, dtype=np.int32)
    first_rank = np.where(match, position, np.iinfo(np.int32).max).min(1)
    precision = np.where(match, hits / np.maximum(position, 1), 0.0)
    return first_rank, precision.sum(1) / match.sum(1)


def _summarise(first_ranks: List[np.ndarray], aps: List[np.ndarray],
               max_rank: int) -> Dict[str, object]:
    first_rank = np.concatenate(first_ranks)
    if first_rank.size == 0:
        raise ValueError(
            'no query has a true match in the gallery once gallery entries '
            'with the same pid and camera are removed; check the pids and '
            'camera ids of the query and gallery sets')
    ap = np.concatenate(aps)
    cmc = (first_rank[:, None] <= np.arange(1, max_rank + 1)).mean(0)
    result: Dict[str, object] = {
        'mAP': float(ap.mean() * 100),
        'cmc': cmc * 100,
        'num_valid_queries': int(first_rank.size),
    }
    for k in (1, 5, 10):
        result[f'rank{k}'] = float((first_rank <= k).mean() * 100)
    return result


def reid_metrics(distmat: np.ndarray,
                 q_pids: np.ndarray,
                 g_pids: np.ndarray,
                 q_camids: np.ndarray,
                 g_camids: np.ndarray,
                 max_rank: int = 50) -> Dict[str, object]:
    """mAP and CMC of a query-gallery ranking, Market-1501 protocol.

    Each query ranks the gallery by ascending distance; equal distances keep
    gallery order (stable sort). Gallery entries with the query's pid AND
    camera are removed from its ranking (same-camera true matches and, on
    Market-1501, the query's own junk duplicates). A query with no true match
    left is skipped. AP is the mean of the precision at the rank of each true
    match; rank-k is the fraction of queries whose first true match is within
    the top k of the filtered ranking.

    Args:
        distmat (np.ndarray): Distances, (Q, G); smaller is more similar.
        q_pids (np.ndarray): Query identities, (Q,).
        g_pids (np.ndarray): Gallery identities, (G,).
        q_camids (np.ndarray): Query cameras, (Q,).
        g_camids (np.ndarray): Gallery cameras, (G,).
        max_rank (int): Length of the returned CMC curve.

    Returns:
        dict: ``mAP``, ``rank1``, ``rank5``, ``rank10`` (floats, percent),
        ``cmc`` ((max_rank,) float array, percent: entry k-1 is rank-k) and
        ``num_valid_queries`` (int).

    Raises:
        ValueError: shapes disagree, ``max_rank`` < 1, or no query has a true
            match in the gallery once same-camera matches are removed.
    """
    distmat = np.asarray(distmat)
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    q_camids, g_camids = np.asarray(q_camids), np.asarray(g_camids)
    if distmat.ndim != 2:
        raise ValueError(f'distmat must be (num_query, num_gallery), got '
                         f'shape {distmat.shape}')
    _check_labels(*distmat.shape, f'distmat {distmat.shape}', q_pids, g_pids,
                  q_camids, g_camids)
    if max_rank < 1:
        raise ValueError(f'max_rank must be >= 1, got {max_rank}')
    first_ranks, aps = [], []
    for start in range(0, distmat.shape[0], _QUERY_BLOCK):
        stop = start + _QUERY_BLOCK
        first_rank, ap = _rank_block(distmat[start:stop], q_pids[start:stop],
                                     g_pids, q_camids[start:stop], g_camids)
        first_ranks.append(first_rank)
        aps.append(ap)
    return _summarise(first_ranks, aps, max_rank)


def reid_metrics_from_features(query_feats,
                               gallery_feats,
                               q_pids,
                               g_pids,
                               q_camids,
                               g_camids,
                               max_rank: int = 50,
                               chunk_size: Optional[int] = None
                               ) -> Dict[str, object]:
    """:func:`reid_metrics` of features, one chunk of queries at a time.

    The features are L2-normalised and ranked by squared Euclidean distance
    ``|q - g|^2 = 2 - 2 q.g`` (the release's FEAT_NORM + squared Euclidean;
    the same order as cosine distance). Only a (chunk, G) block of distances
    exists at any time, so the memory above the features is bounded by the
    chunk size, not by Q x G (3.8 GB in float32 for MSMT17). The result has
    the keys and values of :func:`reid_metrics` on the full matrix.

    Args:
        query_feats (Tensor | np.ndarray): Query features, (Q, C).
        gallery_feats (Tensor | np.ndarray): Gallery features, (G, C).
        q_pids, g_pids, q_camids, g_camids: As in :func:`reid_metrics`.
        max_rank (int): Length of the returned CMC curve.
        chunk_size (int, optional): Queries per chunk. Defaults to as many
            as fit in about 256 MB of work memory (68 for G = 82,161).

    Returns:
        dict: As :func:`reid_metrics`.

    Raises:
        ValueError: As :func:`reid_metrics`; also for features that are not
            2-D or whose widths differ, or ``chunk_size`` < 1.
    """
    query = torch.as_tensor(query_feats).float()
    gallery = torch.as_tensor(gallery_feats).float()
    if query.ndim != 2 or gallery.ndim != 2 or \
            query.shape[1] != gallery.shape[1]:
        raise ValueError('query_feats and gallery_feats must be (Q, C) and '
                         f'(G, C), got {tuple(query.shape)} and '
                         f'{tuple(gallery.shape)}')
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    q_camids, g_camids = np.asarray(q_camids), np.asarray(g_camids)
    num_q, num_g = query.shape[0], gallery.shape[0]
    _check_labels(num_q, num_g, f'features of {num_q} queries and {num_g} '
                  'gallery images', q_pids, g_pids, q_camids, g_camids)
    if max_rank < 1:
        raise ValueError(f'max_rank must be >= 1, got {max_rank}')
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_BYTES // (_BYTES_PER_ENTRY * max(num_g, 1)))
    elif chunk_size < 1:
        raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
    query = F.normalize(query, dim=1)
    gallery_t = F.normalize(gallery, dim=1).T.contiguous()
    first_ranks, aps = [], []
    for start in range(0, num_q, chunk_size):
        stop = start + chunk_size
        distmat = (query[start:stop] @ gallery_t).mul_(-2).add_(2).numpy()
        first_rank, ap = _rank_block(distmat, q_pids[start:stop], g_pids,
                                     q_camids[start:stop], g_camids)
        first_ranks.append(first_rank)
        aps.append(ap)
    return _summarise(first_ranks, aps, max_rank)
