"""Person re-identification retrieval metrics (Market-1501 protocol)."""
from typing import Dict

import numpy as np

# Queries ranked per block: bounds the (block, G) work arrays.
_QUERY_BLOCK = 256


def _check_inputs(distmat: np.ndarray, q_pids: np.ndarray,
                  g_pids: np.ndarray, q_camids: np.ndarray,
                  g_camids: np.ndarray) -> None:
    if distmat.ndim != 2:
        raise ValueError(f'distmat must be (num_query, num_gallery), got '
                         f'shape {distmat.shape}')
    num_q, num_g = distmat.shape
    for name, arr, size in (('q_pids', q_pids, num_q),
                            ('q_camids', q_camids, num_q),
                            ('g_pids', g_pids, num_g),
                            ('g_camids', g_camids, num_g)):
        if arr.shape != (size, ):
            raise ValueError(f'{name} must have shape ({size},) to match '
                             f'distmat {distmat.shape}, got {arr.shape}')


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
    _check_inputs(distmat, q_pids, g_pids, q_camids, g_camids)
    if max_rank < 1:
        raise ValueError(f'max_rank must be >= 1, got {max_rank}')

    first_ranks, aps = [], []
    for start in range(0, distmat.shape[0], _QUERY_BLOCK):
        stop = start + _QUERY_BLOCK
        order = np.argsort(distmat[start:stop], axis=1, kind='stable')
        same_pid = g_pids[order] == q_pids[start:stop, None]
        same_cam = g_camids[order] == q_camids[start:stop, None]
        keep = ~(same_pid & same_cam)  # (b, G) in ranked order
        match = same_pid & keep
        valid = match.any(axis=1)
        keep, match = keep[valid], match[valid]
        # 1-based position among kept entries, and running match count.
        position = np.cumsum(keep, axis=1)
        hits = np.cumsum(match, axis=1)
        first_ranks.append(
            np.where(match, position, np.iinfo(position.dtype).max).min(1))
        precision = np.where(match, hits / np.maximum(position, 1), 0.0)
        aps.append(precision.sum(1) / match.sum(1))
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
