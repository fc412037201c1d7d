"""Two exposures or one photo twice? The check for candidate copies of the same size and framing,
where a burst shot (a second later: a mouth, a hand, a head moved) hashes as close as a recompressed
copy. Both photos are read back (only these pairs) and compared at 64 x 64: after matching one's
grey levels to the other's (brightness, contrast, colour removed or clipped), a copy differs evenly
and little, another exposure a lot in some block."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.ingest.chain import PhotoChain
from pipeline.ingest.decode import Decoded

SIDE = 64
BLOCKS = 8  # per side: residuals averaged over 8 x 8 pixel blocks


def _grey(pixels: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY).astype(np.float32)
    grey = cv2.resize(grey, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    return grey / (grey.std() + 1e-6)


def block_residual(first: np.ndarray, second: np.ndarray) -> float:
    """The largest mean absolute difference over 8 x 8 blocks of two upright RGB photos of one framing,
    at 64 x 64, in standard deviations of the second's grey levels, after the first's grey levels are
    mapped onto the second's (histogram matching)."""
    a, b = _grey(first), _grey(second)
    matched = np.empty(a.size, np.float32)
    matched[np.argsort(a.ravel(), kind="stable")] = np.sort(b.ravel())
    residual = np.abs(matched.reshape(a.shape) - b)
    side = SIDE // BLOCKS
    return float(residual.reshape(BLOCKS, side, BLOCKS, side).mean(axis=(1, 3)).max())


def two_exposures(pairs: list[tuple[int, int]], uris: list[str], chain: PhotoChain, threshold: float) -> np.ndarray:
    """Which ``pairs`` of photos (indexes into ``uris``) differ by more than ``threshold`` in some block:
    two exposures. Photos that cannot be read back leave their pairs as they were (False)."""
    wanted = sorted({photo for pair in pairs for photo in pair})
    pixels = {}
    for uri, decoded in chain.decoded([uris[p] for p in wanted], reduce_to=4 * SIDE):
        if isinstance(decoded, Decoded):
            pixels[uri] = decoded.pixels
    return np.array(
        [
            uris[i] in pixels and uris[j] in pixels and block_residual(pixels[uris[i]], pixels[uris[j]]) > threshold
            for i, j in pairs
        ],
        bool,
    )
