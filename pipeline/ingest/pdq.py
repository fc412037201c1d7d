"""PDQ, the perceptual hash of Facebook's ThreatExchange (the algorithm of the ``pdqhash`` package),
in numpy: a few array operations per photo instead of one C++ call per hash made while holding the
GIL, so that photos hashed on many threads at once run side by side. The hashes agree with
``pdqhash``'s up to float rounding: a bit whose DCT coefficient lies within rounding of the median
may differ (tests/unit/ingest/test_pdq.py measures how often).

The algorithm: the luminance of the image is box-filtered twice along each axis (Jarosz's filter,
its window the image's side over 128: none for images of up to 128 pixels a side, such as the
shrunk copies the dedup fingerprints hash), sampled on a 64x64 grid, and reduced to the 16x16 lowest
non-constant DCT coefficients; a bit is set where a coefficient exceeds their median. Quality is
the sum of the sampled image's gradients. Rotations and mirrorings of the image permute the DCT
coefficients and flip signs, so their hashes come from the same coefficients."""

from __future__ import annotations

import functools

import numpy as np

GRID = 64  # the luminance is sampled on GRID x GRID points
MIN_SIDE = 5  # smaller images hash to zeros with quality 0
_PASSES = 2  # Jarosz filter passes along each axis
_DCT = (
    np.float32(np.sqrt(2 / GRID))
    * np.cos(np.pi / 2 / GRID * np.arange(1, 17)[:, None] * (2 * np.arange(GRID)[None, :] + 1))
).astype(np.float32)  # 16 x 64: DCT basis rows 1..16 (the constant row 0 left out)

_ODD = np.arange(16) % 2 == 1
_ROW_SIGN = np.where(_ODD, 1, -1).astype(np.float32)[:, None]  # +1 on odd rows, -1 on even
_COL_SIGN = _ROW_SIGN.T
_CHECKER = np.where(np.add.outer(np.arange(16), np.arange(16)) % 2 == 1, -1, 1).astype(np.float32)
DIHEDRAL = {  # the coefficients of the transformed image, from those of the original (16 x 16)
    "rotated_90": lambda c: (c * _COL_SIGN).T,
    "rotated_180": lambda c: c * _CHECKER,
    "rotated_270": lambda c: (c * _ROW_SIGN).T,
    "mirrored": lambda c: c * _COL_SIGN,
}


def _box(values: np.ndarray, axis: int, window: int) -> np.ndarray:
    """Jarosz's box filter along ``axis``: the mean over the window around each point (``window``
    wide, its centre rounded up; shorter at the ends, where it holds fewer points)."""
    length = values.shape[axis]
    half = (window + 2) // 2
    out = np.arange(length)
    high, low = np.minimum(length, out + half), np.maximum(0, out + half - window)
    sums = np.insert(np.cumsum(values, axis=axis, dtype=np.float64), 0, 0.0, axis=axis)
    shape = [1] * values.ndim
    shape[axis] = length
    counts = (high - low).reshape(shape)
    return ((np.take(sums, high, axis=axis) - np.take(sums, low, axis=axis)) / counts).astype(np.float32)


@functools.lru_cache(maxsize=1024)
def _grid_points(side: int) -> np.ndarray:
    """The GRID indices at which a side of ``side`` pixels is sampled."""
    return ((np.arange(GRID) + 0.5) * side / GRID).astype(np.intp)


def _sample(values: np.ndarray) -> np.ndarray:
    """``values`` (an image's first two axes) at the GRID x GRID sampling points."""
    return values.take(_grid_points(values.shape[0]), axis=0).take(_grid_points(values.shape[1]), axis=1)


def _luma(rgb: np.ndarray) -> np.ndarray:
    """Luminance of uint8 RGB (last axis), computed as ``pdqhash`` computes it."""
    return (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114).astype(np.float32)


def _filtered_grid(rgb: np.ndarray) -> np.ndarray:
    """The GRID x GRID luminance samples of an image over 2 * GRID pixels on a side: filtered first."""
    rows_window, cols_window = ((side + 2 * GRID - 1) // (2 * GRID) for side in rgb.shape[:2])
    luma = _luma(rgb)
    for _ in range(_PASSES):
        luma = _box(_box(luma, 1, cols_window), 0, rows_window)
    return _sample(luma)


def luma_grids(images: list[np.ndarray]) -> np.ndarray:
    """The GRID x GRID filtered luminance samples (N x GRID x GRID float32) of N HxWx3 uint8 images.
    Up to 2 * GRID pixels a side the filter's window is one pixel: those are sampled first, together."""
    grids = np.empty((len(images), GRID, GRID), np.float32)
    direct = [max(image.shape[:2]) <= 2 * GRID for image in images]
    if any(direct):
        grids[direct] = _luma(np.stack([_sample(image) for image, ok in zip(images, direct) if ok]))
    for i, (image, ok) in enumerate(zip(images, direct)):
        if not ok:
            grids[i] = _filtered_grid(image)
    return grids


def coefficients(images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The 16x16 DCT coefficients (N x 16 x 16 float32) and qualities (N ints, 0-100) of N HxWx3
    uint8 images; zeros for images under MIN_SIDE a side (their hashes are zeros, as ``pdqhash``'s)."""
    found, quality = np.zeros((len(images), 16, 16), np.float32), np.zeros(len(images), np.int64)
    hashable = [i for i, image in enumerate(images) if min(image.shape[:2]) >= MIN_SIDE]
    if hashable:
        grids = luma_grids([images[i] for i in hashable])
        vertical = np.trunc((grids[:, :-1, :] - grids[:, 1:, :]) * 100 / 255)
        horizontal = np.trunc((grids[:, :, :-1] - grids[:, :, 1:]) * 100 / 255)
        gradient = np.abs(vertical).sum(axis=(1, 2)) + np.abs(horizontal).sum(axis=(1, 2))
        quality[hashable] = np.minimum(gradient.astype(np.int64) // 90, 100)
        found[hashable] = _DCT @ grids @ _DCT.T
    return found, quality


def hash_bytes(coefficients: np.ndarray) -> np.ndarray:
    """The 32-byte hashes (N x 32 uint8) of N coefficient blocks: a bit per coefficient above the
    lower median, in ``pdqhash``'s order (its bit vector, last coefficient first, packed big-endian)."""
    flat = coefficients.reshape(len(coefficients), 256)
    median = np.partition(flat, 127, axis=1)[:, 127:128]
    return np.packbits((flat > median)[:, ::-1], axis=1)
