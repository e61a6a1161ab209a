"""Text-to-image person retrieval metrics (CUHK-PEDES protocol)."""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

# Bytes of work memory per (query, gallery) entry while a chunk is ranked:
# the similarity (4), the sort order (8), the match mask (1), two int32
# running counts (8), the float64 precision and its temporaries (16), slack.
_BYTES_PER_ENTRY = 48
# Work memory one chunk of queries may use by default.
_CHUNK_BYTES = 64 * 2**20


def _check(num_q: int, num_g: int, query_pids: np.ndarray,
           gallery_pids: np.ndarray, topk: Sequence[int]) -> None:
    if query_pids.shape != (num_q, ):
        raise ValueError(f'query_pids must have shape ({num_q},), got '
                         f'{query_pids.shape}')
    if gallery_pids.shape != (num_g, ):
        raise ValueError(f'gallery_pids must have shape ({num_g},), got '
                         f'{gallery_pids.shape}')
    if not topk or any(int(k) < 1 for k in topk):
        raise ValueError(f'topk must be a non-empty list of ranks >= 1, got '
                         f'{topk}')


def _rank_chunk(similarity: torch.Tensor, query_pids: np.ndarray,
                gallery_pids: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First-match rank (1-based), AP and INP of each query of a chunk that
    has a match in the gallery; the others are dropped. similarity is
    (b, G)."""
    order = torch.sort(similarity, dim=1, descending=True,
                       stable=True).indices.numpy()
    match = gallery_pids[order] == query_pids[:, None]  # ranked order
    match = match[match.any(axis=1)]
    position = np.arange(1, match.shape[1] + 1, dtype=np.int32)
    hits = np.cumsum(match, axis=1, dtype=np.int32)
    num_match = hits[:, -1]
    first_rank = match.argmax(axis=1) + 1
    last_rank = match.shape[1] - match[:, ::-1].argmax(axis=1)
    precision = np.where(match, hits / position, 0.0)
    return first_rank, precision.sum(1) / num_match, num_match / last_rank


def _chunks(num_q: int, num_g: int, chunk_size: Optional[int]):
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_BYTES // (_BYTES_PER_ENTRY * max(num_g, 1)))
    elif chunk_size < 1:
        raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
    for start in range(0, num_q, chunk_size):
        yield slice(start, start + chunk_size)


def _summarise(parts: List[tuple], num_q: int,
               topk: Sequence[int]) -> Dict[str, float]:
    first_rank = np.concatenate([p[0] for p in parts])
    if first_rank.size == 0:
        raise ValueError('no query has a gallery item of the same person id; '
                         'check the query and gallery pids')
    result = {
        f'R{int(k)}': float((first_rank <= int(k)).mean() * 100)
        for k in topk
    }
    result['mAP'] = float(np.concatenate([p[1] for p in parts]).mean() * 100)
    result['mINP'] = float(np.concatenate([p[2] for p in parts]).mean() * 100)
    result['num_valid_queries'] = int(first_rank.size)
    result['num_excluded_queries'] = int(num_q - first_rank.size)
    return result


def text_image_retrieval_metrics(similarity,
                                 query_pids,
                                 gallery_pids,
                                 topk: Sequence[int] = (1, 5, 10),
                                 chunk_size: Optional[int] = None
                                 ) -> Dict[str, float]:
    """R@k, mAP and mINP of text-to-image person retrieval.

    Each query (caption) ranks the gallery (images) by descending
    similarity; equal similarities keep gallery order (stable sort). A
    gallery image matches a query when it shows the same person id (not
    only the caption's own image). R@k is the fraction of queries with a
    match in the top k; AP is the mean of the precision at the rank of each
    match; INP is (number of matches) / (rank of the last match). A query
    with no match in the gallery is EXCLUDED from every mean and counted in
    ``num_excluded_queries``; it is an error only when no query has a
    match. The queries are ranked one chunk at a time, so the work memory
    above the inputs is about ``chunk_size x G x 48`` bytes (64 MB by
    default), whatever Q.

    Args:
        similarity (Tensor | np.ndarray): (Q, G); larger is more similar.
        query_pids (array-like): Person id of each query, (Q,).
        gallery_pids (array-like): Person id of each gallery image, (G,).
        topk (Sequence[int]): Ranks k of the reported R@k.
        chunk_size (int, optional): Queries per chunk; by default as many
            as fit in about 64 MB of work memory.

    Returns:
        dict: ``R{k}`` for each k, ``mAP`` and ``mINP`` (floats, percent),
        ``num_valid_queries`` and ``num_excluded_queries`` (ints).

    Raises:
        ValueError: shapes disagree, a k < 1, or no query has a match.
    """
    similarity = torch.as_tensor(similarity)
    if similarity.ndim != 2:
        raise ValueError('similarity must be (num_query, num_gallery), got '
                         f'shape {tuple(similarity.shape)}')
    query_pids, gallery_pids = np.asarray(query_pids), np.asarray(gallery_pids)
    num_q, num_g = similarity.shape
    _check(num_q, num_g, query_pids, gallery_pids, topk)
    parts = [
        _rank_chunk(similarity[rows].float().cpu(), query_pids[rows],
                    gallery_pids)
        for rows in _chunks(num_q, num_g, chunk_size)
    ]
    return _summarise(parts, num_q, topk)


def text_image_retrieval_metrics_from_features(
        text_feats,
        image_feats,
        query_pids,
        gallery_pids,
        topk: Sequence[int] = (1, 5, 10),
        chunk_size: Optional[int] = None) -> Dict[str, float]:
    """:func:`text_image_retrieval_metrics` of cosine similarities of
    features, computed one chunk of queries at a time (the (Q, G) matrix is
    never held whole).

    Args:
        text_feats (Tensor | np.ndarray): Query (caption) embeddings, (Q, C).
        image_feats (Tensor | np.ndarray): Gallery embeddings, (G, C).
        query_pids, gallery_pids, topk, chunk_size: As in
            :func:`text_image_retrieval_metrics`.

    Returns:
        dict: As :func:`text_image_retrieval_metrics`.
    """
    text = torch.as_tensor(text_feats).float()
    image = torch.as_tensor(image_feats).float()
    if text.ndim != 2 or image.ndim != 2 or text.shape[1] != image.shape[1]:
        raise ValueError('text_feats and image_feats must be (Q, C) and '
                         f'(G, C), got {tuple(text.shape)} and '
                         f'{tuple(image.shape)}')
    query_pids, gallery_pids = np.asarray(query_pids), np.asarray(gallery_pids)
    num_q, num_g = text.shape[0], image.shape[0]
    _check(num_q, num_g, query_pids, gallery_pids, topk)
    text = torch.nn.functional.normalize(text, dim=1)
    image_t = torch.nn.functional.normalize(image, dim=1).T.contiguous()
    parts = [
        _rank_chunk(text[rows] @ image_t, query_pids[rows], gallery_pids)
        for rows in _chunks(num_q, num_g, chunk_size)
    ]
    return _summarise(parts, num_q, topk)
