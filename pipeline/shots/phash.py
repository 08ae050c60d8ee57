"""64-bit perceptual hash (pHash: DCT of a 32x32 grey image) and Hamming distance.

The hash is taken after trimming uniform borders (letterbox / pillarbox bars),
so a re-upload with black bars hashes like the original. A picture with almost
no structure (black, a flat colour card) gets hash 0, which matching ignores:
its bits would be compression noise and would match any other flat picture.

Hashes are unsigned 64-bit ints; the database stores them as signed 64-bit
(``pipeline.storage.sqlite.catalogue.to_signed64``).
"""

from __future__ import annotations

import cv2
import numpy as np

HASH_SIZE = 8  # 8x8 low frequencies -> 64 bits
IMG_SIZE = 32
#: the hash covers the central part of the (border-trimmed) picture: logos and
#: captions sit near the edges, and a crop removes the edges first
CENTRE = 0.70
#: a query also hashes these wider centres (to match a copy cropped by up to
#: ~10 %) and its untrimmed picture (when trimming went wrong on either side)
QUERY_CENTRES = (0.70, 0.74, 0.78)
#: below this mean |AC coefficient| (grey levels) the picture is "flat" and hashes to 0
FLAT_ENERGY = 0.5

_BITS = (1 << np.arange(63, -1, -1, dtype=np.uint64)).astype(np.uint64)


def _to_gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return image


def trim_borders(gray: np.ndarray, tol: float = 10.0, max_frac: float = 0.3) -> np.ndarray:
    """Remove uniform bars at the edges (rows/columns whose spread is below ``tol``).

    At most ``max_frac`` of each dimension is removed from each side, so a
    flat picture is not trimmed to nothing.
    """
    h, w = gray.shape[:2]
    if h < 16 or w < 16:
        return gray
    g = gray.astype(np.float32)
    row_std, col_std = g.std(axis=1), g.std(axis=0)
    row_mean, col_mean = g.mean(axis=1), g.mean(axis=0)

    def edge(std: np.ndarray, mean: np.ndarray, limit: int, reverse: bool) -> int:
        idx = range(len(std) - 1, len(std) - 1 - limit, -1) if reverse else range(limit)
        ref = mean[idx[0]]
        n = 0
        for i in idx:
            if std[i] > tol or abs(mean[i] - ref) > tol:
                break
            n += 1
        return n

    top = edge(row_std, row_mean, int(h * max_frac), False)
    bottom = edge(row_std, row_mean, int(h * max_frac), True)
    left = edge(col_std, col_mean, int(w * max_frac), False)
    right = edge(col_std, col_mean, int(w * max_frac), True)
    if top + bottom == 0 and left + right == 0:
        return gray
    return gray[top : h - bottom, left : w - right]


def _dct_lowfreq(gray: np.ndarray) -> np.ndarray:
    small = cv2.resize(gray, (IMG_SIZE, IMG_SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)
    return cv2.dct(small)[:HASH_SIZE, :HASH_SIZE]


def _bits_to_int(bits: np.ndarray) -> int:
    return int(np.bitwise_or.reduce(_BITS[bits.ravel()]) if bits.any() else 0)


def _hash_from_dct(low: np.ndarray) -> int:
    ac = low.ravel()[1:]
    if np.abs(ac).mean() / IMG_SIZE < FLAT_ENERGY:
        return 0
    med = np.median(ac)
    bits = (low > med).ravel()
    bits[0] = False  # DC term carries brightness only
    return _bits_to_int(bits)


def _centre(gray: np.ndarray, frac: float) -> np.ndarray:
    if frac >= 1.0:
        return gray
    h, w = gray.shape[:2]
    dy, dx = int(round(h * (1 - frac) / 2)), int(round(w * (1 - frac) / 2))
    return gray[dy : h - dy, dx : w - dx] if h - 2 * dy >= 8 and w - 2 * dx >= 8 else gray


_MIRROR_SIGN = np.where(np.arange(HASH_SIZE) % 2 == 1, -1.0, 1.0).astype(np.float32)[None, :]


def _pair(gray: np.ndarray, trim: bool, centre: float) -> tuple[int, int]:
    if trim:
        gray = trim_borders(gray)
    low = _dct_lowfreq(_centre(gray, centre))
    # mirroring flips the sign of odd horizontal frequencies: no second DCT needed
    return _hash_from_dct(low), _hash_from_dct(low * _MIRROR_SIGN)


def phash_pair(image: np.ndarray, trim: bool = True, centre: float = CENTRE) -> tuple[int, int]:
    """(hash of the picture, hash of its horizontal mirror): the stored hashes."""
    return _pair(_to_gray(image), trim, centre)


def phash(image: np.ndarray, trim: bool = True, centre: float = CENTRE) -> int:
    """64-bit pHash of a BGR or grey image (unsigned int; 0 for a flat picture).

    Borders are trimmed, then the central ``centre`` share of each dimension is
    resized to 32x32 and its DCT's 8x8 low frequencies (DC excluded) are
    compared with their median.
    """
    return phash_pair(image, trim, centre)[0]


def query_variants(image: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(plain, mirrored) hashes of the query-side variants: wider centres, with and without trimming."""
    gray = _to_gray(image)
    plain: list[int] = []
    mirrored: list[int] = []
    for trim in (True, False):
        for c in QUERY_CENTRES:
            h, hm = _pair(gray, trim, c)
            plain.append(h)
            mirrored.append(hm)
    return tuple(dict.fromkeys(plain)), tuple(dict.fromkeys(mirrored))


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two 64-bit hashes (signed or unsigned)."""
    return ((a ^ b) & 0xFFFFFFFFFFFFFFFF).bit_count()


def popcount64(x: np.ndarray) -> np.ndarray:
    """Vectorised popcount of uint64 values."""
    x = np.asarray(x, dtype=np.uint64)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return ((x * np.uint64(0x0101010101010101)) >> np.uint64(56)).astype(np.uint8)
