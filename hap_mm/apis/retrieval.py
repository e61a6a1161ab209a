"""Gallery search: chunked top-k, a gallery feature cache, ranked-list
pictures, and writes that never leave a half-written file."""
import hashlib
import io
import json
import os
import os.path as osp
import re
import tempfile
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

# Market-1501 style names: "0002_c1s1_000451_03.jpg" (pid 2, camera 1);
# "-1_..." is a distractor, "0000_..." junk.
_MARKET_NAME = re.compile(r'^(-?\d+)_c(\d+)')
CACHE_VERSION = 1


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same
    folder and ``os.replace``: readers see the old file or the new one,
    never a part."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp_')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise


def chunked_topk(query: np.ndarray,
                 gallery: np.ndarray,
                 k: int,
                 chunk_size: int = 4096) -> Tuple[np.ndarray, np.ndarray]:
    """The ``k`` most similar gallery rows of each query (dot product).

    Memory: (Q, chunk_size + k) similarities at a time, never (Q, G):
    each gallery chunk's similarities join the running top-k and a stable
    sort of those keeps the best k.
    The order is that of a stable sort by decreasing similarity (ties: lower
    gallery index first), so it equals ``np.argsort(-sims, kind='stable')``.

    Args:
        query (np.ndarray): (Q, C) float.
        gallery (np.ndarray): (G, C) float, G >= 1.
        k (int): How many to keep; at most G are returned.
        chunk_size (int): Gallery rows per step.

    Returns:
        (indices (Q, min(k, G)) int64, similarities (Q, min(k, G)) float32).
    """
    num = gallery.shape[0]
    if num == 0:
        raise ValueError('the gallery is empty')
    k = min(int(k), num)
    if k < 1 or chunk_size < 1:
        raise ValueError(f'k and chunk_size must be >= 1, got {k}, '
                         f'{chunk_size}')
    query = np.asarray(query, np.float32)
    best_idx = np.zeros((query.shape[0], 0), np.int64)
    best_sim = np.zeros((query.shape[0], 0), np.float32)
    for start in range(0, num, chunk_size):
        block = np.asarray(gallery[start:start + chunk_size], np.float32)
        sims = query @ block.T
        idx = np.broadcast_to(
            np.arange(start, start + block.shape[0]), sims.shape)
        sims = np.concatenate([best_sim, sims], 1)
        idx = np.concatenate([best_idx, idx], 1)
        rows = np.lexsort((idx, -sims), axis=-1)[:, :k]
        best_sim = np.take_along_axis(sims, rows, 1)
        best_idx = np.take_along_axis(idx, rows, 1)
    return best_idx, best_sim


def gallery_key(files: Sequence[str], checkpoint_sha256: str,
                config_text: str) -> str:
    """SHA-256 over the gallery's files (path, size, mtime), the
    checkpoint's hash and the config: any change makes a new key."""
    entries = []
    for path in files:
        stat = os.stat(path)
        entries.append([osp.abspath(path), stat.st_size, stat.st_mtime_ns])
    text = json.dumps(
        dict(version=CACHE_VERSION, files=entries,
             checkpoint=checkpoint_sha256, config=config_text))
    return hashlib.sha256(text.encode()).hexdigest()


def cached_gallery_features(
        cache_file: str, files: Sequence[str], key: str,
        compute: Callable[[Sequence[str]], np.ndarray]
) -> Tuple[np.ndarray, bool]:
    """Gallery features from ``cache_file`` when its key is ``key``, else
    ``compute(files)``, saved there (atomically) with the key and files.

    Returns:
        (features (G, C) float32, whether they came from the cache).
    """
    if osp.isfile(cache_file):
        try:
            with np.load(cache_file, allow_pickle=False) as cache:
                if str(cache['key']) == key and \
                        list(cache['files']) == list(files):
                    return cache['features'], True
        except (OSError, ValueError, KeyError):
            pass  # unreadable or another layout: recompute and replace
    features = np.asarray(compute(files), np.float32)
    buf = io.BytesIO()
    np.savez(buf, key=np.array(key), files=np.array(list(files)),
             features=features)
    atomic_write_bytes(cache_file, buf.getvalue())
    return features, False


def rank_gallery(query_feats: np.ndarray, gallery: Sequence[str],
                 compute: Callable[[Sequence[str]], np.ndarray],
                 cache_key: str, out_dir: str, topk: int,
                 chunk_size: int) -> Tuple[np.ndarray, np.ndarray, bool]:
    """The top-k gallery images of each query, with the gallery features
    cached in ``out_dir/gallery_features.npz`` under ``cache_key`` (see
    :func:`gallery_key`; ``compute(gallery)`` runs on a miss).

    Args:
        query_feats: (Q, C) L2-normalised query features.
        gallery: G image paths.

    Returns:
        (indices (Q, k) int64, cosine similarities (Q, k) float32, whether
        the gallery features came from the cache).
    """
    gallery_feats, cached = cached_gallery_features(
        osp.join(out_dir, 'gallery_features.npz'), gallery, cache_key,
        compute)
    indices, sims = chunked_topk(query_feats, gallery_feats, topk,
                                 chunk_size)
    return indices, sims, cached


def ranked_entries(gallery: Sequence[str], indices: np.ndarray,
                   sims: np.ndarray) -> List[dict]:
    """One query's ranking as JSON-ready ``{'image', 'similarity'}`` dicts
    from its row of :func:`rank_gallery`'s indices (k,) and similarities."""
    return [dict(image=gallery[i], similarity=float(s))
            for i, s in zip(indices, sims)]


def write_search_results(out_dir: str, pictures: dict, report: dict) -> None:
    """Write each ``{file name: PNG bytes}`` picture, then ``results.json``
    holding ``report``, into ``out_dir``, each file atomically. Called only
    after every query succeeded, so a failure writes nothing."""
    for name, data in pictures.items():
        atomic_write_bytes(osp.join(out_dir, name), data)
    atomic_write_bytes(
        osp.join(out_dir, 'results.json'),
        json.dumps(report, indent=2).encode())


def market_identity(path: str) -> Optional[int]:
    """The person id in a Market-1501 style file name, else None."""
    match = _MARKET_NAME.match(osp.basename(path))
    return int(match.group(1)) if match else None


def ranked_picture(query: str,
                   ranked: List[str],
                   scores: Sequence[float],
                   tile_hw: Tuple[int, int] = (128, 64)) -> np.ndarray:
    """The query and its ranked gallery images in a row, (H, W, 3) BGR.

    Each gallery tile shows its rank and similarity; when the query's and
    the tile's file names carry Market-style identities the tile has a
    green (same person) or red (another) border, else a grey one.
    """
    import cv2

    from .inference import load_image
    height, width = tile_hw
    pad, text_h = 4, 14
    qid = market_identity(query)

    def tile(path, color):
        img = cv2.resize(load_image(path), (width, height),
                         interpolation=cv2.INTER_AREA)
        return cv2.copyMakeBorder(img, pad, pad, pad, pad,
                                  cv2.BORDER_CONSTANT, value=color)

    tiles = [tile(query, (0, 0, 0))]
    labels = ['query']
    for rank, (path, score) in enumerate(zip(ranked, scores), 1):
        gid = market_identity(path)
        if qid is None or gid is None:
            color = (160, 160, 160)
        else:
            color = (0, 170, 0) if gid == qid else (0, 0, 220)
        tiles.append(tile(path, color))
        labels.append(f'{rank}: {score:.2f}')
    gap = np.full((height + 2 * pad, 6, 3), 255, np.uint8)
    row = [tiles[0], gap]
    for t in tiles[1:]:
        row += [t, gap[:, :2]]
    strip = np.concatenate(row, 1)
    canvas = np.full((strip.shape[0] + text_h, strip.shape[1], 3), 255,
                     np.uint8)
    canvas[text_h:] = strip
    x = 0
    for t, label in zip(tiles, labels):
        cv2.putText(canvas, label, (x + 2, text_h - 3),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 1,
                    cv2.LINE_AA)
        x += t.shape[1] + (6 if label == 'query' else 2)
    return canvas


def caption_picture(caption: str,
                    ranked: List[str],
                    scores: Sequence[float],
                    tile_hw: Tuple[int, int] = (192, 64)) -> np.ndarray:
    """A caption (wrapped, above) and its ranked gallery images in a row,
    each with its rank and cosine similarity, (H, W, 3) BGR."""
    import textwrap

    import cv2

    from .inference import load_image
    height, width = tile_hw
    pad, gap, text_h, line_h = 4, 2, 14, 16
    tiles = [
        cv2.copyMakeBorder(
            cv2.resize(load_image(path), (width, height),
                       interpolation=cv2.INTER_AREA), pad, pad, pad, pad,
            cv2.BORDER_CONSTANT, value=(160, 160, 160)) for path in ranked
    ]
    tile_w = width + 2 * pad
    total_w = max(len(tiles) * (tile_w + gap), 320)
    lines = textwrap.wrap(caption, max(20, total_w // 7)) or ['']
    top = len(lines) * line_h + 6
    canvas = np.full((top + text_h + height + 2 * pad, total_w, 3), 255,
                     np.uint8)
    for i, line in enumerate(lines):
        cv2.putText(canvas, line, (4, (i + 1) * line_h),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                    cv2.LINE_AA)
    for rank, (t, score) in enumerate(zip(tiles, scores), 1):
        x = (rank - 1) * (tile_w + gap)
        canvas[top + text_h:, x:x + tile_w] = t
        cv2.putText(canvas, f'{rank}: {score:.2f}', (x + 2, top + text_h - 3),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return canvas


def encode_png(img: np.ndarray) -> bytes:
    """PNG bytes of a BGR image."""
    import cv2
    ok, buf = cv2.imencode('.png', img)
    if not ok:
        raise ValueError('cannot encode the picture as PNG')
    return buf.tobytes()
