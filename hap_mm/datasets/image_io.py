"""Decoding crawled images and scanning image folders without surprises.

- :func:`decode_image` turns any decoder failure (an exception, e.g. a
  PNG header claiming 100000 x 100000 pixels, or ``None``) into a reason
  string, and refuses JPEGs that end before their end-of-image marker
  (libjpeg would return them grey-filled without an error).
- :func:`jpeg_truncated` decides that by walking the marker segments, so
  bytes after the end-of-image marker (camera trailers, appended data) do
  not make a complete JPEG "truncated".
- :func:`scan_files` walks a folder following symlinked directories, each
  directory once, so a link loop cannot multiply the samples.
- :func:`printable` makes a path safe to write to a UTF-8 log.
"""
import os
import os.path as osp
import re
from typing import List, Optional, Sequence, Tuple

import numpy as np

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')
TRUNCATED_JPEG = 'truncated JPEG (no end-of-image marker)'

# In entropy-coded data 0xFF is followed by 0x00 (stuffing), by a restart
# marker 0xD0-0xD7 or by fill bytes 0xFF; anything else is a marker.
_SCAN_END = re.compile(rb'\xff[^\x00\xd0-\xd7\xff]')
# markers without a length field: TEM, RST0-7, SOI, EOI
_STANDALONE = {0x01, *range(0xd0, 0xd9)}


def jpeg_truncated(data: bytes) -> bool:
    """True when JPEG ``data`` ends before its end-of-image (EOI) marker.

    Walks the segments from the start-of-image marker: each marker's length
    field is skipped, each scan's entropy-coded data up to the next marker;
    the walk stops at the first EOI, so bytes after it are ignored. Stray
    bytes between segments are skipped as libjpeg does. Non-JPEG data
    (no SOI) is never truncated here; the decoder judges it.
    """
    if not data.startswith(b'\xff\xd8'):
        return False
    n, pos = len(data), 2
    while True:
        pos = data.find(b'\xff', pos)
        if pos < 0:
            return True
        while pos < n and data[pos] == 0xff:  # fill bytes before a marker
            pos += 1
        if pos >= n:
            return True
        marker = data[pos]
        pos += 1
        if marker == 0xd9:
            return False
        if marker == 0x00 or marker in _STANDALONE:
            continue
        if pos + 2 > n:
            return True
        pos += int.from_bytes(data[pos:pos + 2], 'big')
        if pos > n:
            return True
        if marker == 0xda:  # start of scan: entropy-coded data follows
            match = _SCAN_END.search(data, pos)
            if match is None:
                return True
            pos = match.start()


def _short(e: Exception) -> str:
    text = ' '.join(str(e).split())
    return f'{e.__class__.__name__}: {text[:200]}' if text else \
        e.__class__.__name__


def decode_image(data: bytes) -> Tuple[Optional[np.ndarray], str]:
    """Image bytes -> ((H, W, 3) uint8 BGR, '') or (``None``, why not).

    Decoded with OpenCV through mmcv (EXIF orientation applied, as
    ``mmcv.imfrombytes(flag='color')``). Empty data, truncated JPEGs, data
    the decoder rejects and any exception it raises are reasons, never
    exceptions.
    """
    import mmcv
    if not data:
        return None, 'empty file'
    if jpeg_truncated(data):
        return None, TRUNCATED_JPEG
    try:
        img = mmcv.imfrombytes(data, flag='color', backend='cv2')
    except Exception as e:  # cv2.error on absurd headers, among others
        return None, f'cannot decode ({_short(e)})'
    if img is None or img.size == 0:
        return None, 'cannot decode image'
    return img, ''


def read_image(path: str) -> Tuple[Optional[np.ndarray], str]:
    """:func:`decode_image` of a local file; read errors are reasons too."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        return None, f'cannot read ({_short(e)})'
    return decode_image(data)


def scan_files(root: str,
               extensions: Sequence[str] = IMG_EXTENSIONS) -> List[str]:
    """Sorted paths under ``root`` ending in ``extensions`` (any case),
    relative to ``root``.

    Symlinked directories are followed, but every directory (by device and
    inode) only the first time it is reached in sorted order: a link loop,
    or a second link to a folder already scanned, adds no file.
    """
    exts = tuple(e.lower() for e in extensions)
    seen = set()
    found = []
    for cur, dirs, files in os.walk(root, followlinks=True):
        try:
            st = os.stat(cur)
        except OSError:
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs.sort()
        found += [
            osp.relpath(osp.join(cur, name), root) for name in files
            if name.lower().endswith(exts)
        ]
    return sorted(found)


def printable(text: str) -> str:
    """``text`` with undecodable file-name bytes (surrogate escapes, as
    ``os.listdir`` returns them) written as ``\\udcXX``: safe for any
    UTF-8 log file or console."""
    return text.encode('utf-8', 'backslashreplace').decode('utf-8')
