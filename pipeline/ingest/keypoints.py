"""A photo's local features, kept for finding its edited copies: the strongest ORB keypoints of the photo
shrunk to KEYPOINT_SIDE, each its 256-bit descriptor and its place as shares of the width and height.

A crop, a caption bar, a sticker, a screenshot's frame or a colour filter leave most of a photo's
keypoints where its content is, with descriptors a few bits apart (measured on LFW: median 8-19 of 256
bits between a keypoint and its match in such a copy), where a whole-photo hash of an uncentred crop
has nothing left in common. Packed as KEYPOINT_BYTES per keypoint: 32 bytes of descriptor, then x and
y as little-endian uint16 shares of 65,535."""

from __future__ import annotations

import cv2
import numpy as np

KEYPOINT_SIDE = 256  # ORB runs on the photo's grey levels shrunk to this longest side
KEYPOINTS_KEPT = 64  # kept of a square photo, about 2.3 kB: the strongest of each cell of a grid first
CELLS_ACROSS = 6  # square cells, this many along the shorter side: text and stickers (many strong corners in
# a small area) must not take every keypoint; a longer photo has more cells and keeps more keypoints, in
# proportion (a screenshot's chrome takes its own cells, not the photo's)
FOUND = 500  # keypoints ORB finds before the kept ones are chosen
# ORB's pyramid and ranking: 7 levels of 1.2 (3x between the first and the last) ranked by FAST's own
# score rather than Harris's. Measured on the app-copies library (benchmarks.dedup_library; candidates
# of the 320 app-made copies with faces / 160 without): OpenCV's 8 levels and Harris 318 / 123, 2.78 ms
# of one core a photo; 7 levels and FAST's score 320 / 125, 2.59 ms; 6 levels 316 / 126; 7 levels of
# 1.25, 319 / 119, 2.3 ms.
LEVELS = 7
# FAST's corner threshold, in grey levels: low, so that soft and low-contrast photos (a small photo
# enlarged, a hazy landscape) have corners too. Measured on the app-copies library (benchmarks.dedup_library):
# at 10, 84 of 160 edited copies of photos without faces reached their original; at 3, 123.
CORNER_THRESHOLD = 3
DESCRIPTOR_BYTES = 32
KEYPOINT_BYTES = DESCRIPTOR_BYTES + 4
_SHARE = 65535


def photo_keypoints(pixels: np.ndarray) -> bytes:
    """The packed keypoints of an upright RGB (or grey) photo at any decode scale (b"" when ORB finds none)."""
    grey = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY) if pixels.ndim == 3 else pixels
    height, width = grey.shape
    scale = min(1.0, KEYPOINT_SIDE / max(height, width))
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    # small patches: a 250-px photo shrunk to 256 keeps its corners' keypoints; one detector per call
    # (a photo's decode thread may run beside others)
    orb = cv2.ORB_create(
        nfeatures=FOUND,
        nlevels=LEVELS,
        edgeThreshold=15,
        patchSize=15,
        fastThreshold=CORNER_THRESHOLD,
        scoreType=cv2.ORB_FAST_SCORE,
    )
    found, descriptors = orb.detectAndCompute(grey, None)
    if descriptors is None or not len(found):
        return b""
    places = cv2.KeyPoint_convert(found).astype(np.float64) / [grey.shape[1], grey.shape[0]]  # 25x a loop
    kept = _spread(places, np.array([point.response for point in found]), grey.shape)
    places, descriptors = places[kept], descriptors[kept]
    shares = np.clip(np.round(places * _SHARE), 0, _SHARE).astype("<u2")
    return np.concatenate([descriptors, shares.view(np.uint8).reshape(-1, 4)], axis=1).tobytes()


def _spread(places: np.ndarray, strengths: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Indexes of the keypoints kept of a photo of ``shape`` (height, width): rounds over a grid of square
    cells, each cell taking its strongest keypoint not yet kept, until KEYPOINTS_KEPT per CELLS_ACROSS**2
    cells are kept."""
    side = min(shape) / CELLS_ACROSS
    grid = np.array([max(1, round(shape[1] / side)), max(1, round(shape[0] / side))])  # columns, rows
    cells = np.minimum((places * grid).astype(int), grid - 1) @ [grid[1], 1]
    kept = round(KEYPOINTS_KEPT * grid.prod() / CELLS_ACROSS**2)
    order = np.lexsort((-strengths, cells))  # by cell, strongest first within each
    rank = np.empty(len(order), int)
    starts = np.flatnonzero(np.r_[True, cells[order][1:] != cells[order][:-1]])
    rank[order] = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    return np.lexsort((-strengths, rank))[:kept]  # every cell's best, then every cell's second, ...


def unpack_keypoints(packed: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(descriptors: (n, 32) uint8, places: (n, 2) float64 shares of the width and height) of ``packed``."""
    rows = np.frombuffer(packed, np.uint8).reshape(-1, KEYPOINT_BYTES)
    places = rows[:, DESCRIPTOR_BYTES:].copy().view("<u2").astype(np.float64) / _SHARE
    return np.ascontiguousarray(rows[:, :DESCRIPTOR_BYTES]), places
