"""Two exposures or one photo twice? A burst shot (a second later: a mouth, a hand, a head moved)
hashes as close as a recompressed copy, and its crops as close as a copy's crops. So candidate copies
are read back (only these pairs), the second turned as its matching hash variant says (mirrored,
rotated, centre-cropped), and compared at 64 x 64: after matching one's grey levels to the other's
(brightness, contrast, colour removed or clipped), a copy differs evenly and little, another exposure
a lot in some block. Photos matched out of a frame are not checked (the frame's edge is too rough a
guide to line them up)."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.ingest.chain import PhotoChain
from pipeline.ingest.decode import Decoded
from pipeline.ingest.fingerprints import centre_crop
from pipeline.progress import Progress

SIDE = 64
BLOCKS = 8  # per side: residuals averaged over 8 x 8 pixel blocks


def grey(pixels: np.ndarray) -> np.ndarray:
    """Grey levels (float32) of RGB ``pixels``; grey levels unchanged."""
    if pixels.ndim == 2:
        return pixels
    return cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY).astype(np.float32)


def _small(pixels: np.ndarray) -> np.ndarray:
    small = cv2.resize(np.ascontiguousarray(grey(pixels)), (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    return small / (small.std() + 1e-6)


TURNED = {
    "as_is": lambda p: p,
    "mirrored": lambda p: p[:, ::-1],
    "rotated_90": lambda p: np.rot90(p, 1),
    "rotated_180": lambda p: np.rot90(p, 2),
    "rotated_270": lambda p: np.rot90(p, -1),
    "crop_90": lambda p: centre_crop(p, 0.9),
    "crop_75": lambda p: centre_crop(p, 0.75),
}  # a hash variant (pipeline.dedup.candidates.VARIANTS) -> the same transformation of the pixels


def block_residual(first: np.ndarray, second: np.ndarray) -> float:
    """The largest mean absolute difference over 8 x 8 blocks of two upright RGB photos of one framing,
    at 64 x 64, in standard deviations of the second's grey levels, after the first's grey levels are
    mapped onto the second's (histogram matching)."""
    a, b = _small(first), _small(second)
    matched = np.empty(a.size, np.float32)
    matched[np.argsort(a.ravel(), kind="stable")] = np.sort(b.ravel())
    residual = np.abs(matched.reshape(a.shape) - b)
    side = SIDE // BLOCKS
    return float(residual.reshape(BLOCKS, side, BLOCKS, side).mean(axis=(1, 3)).max())


CENTRE_CROPS = np.arange(0.5, 1.0, 0.025)  # shares of the area a copy's centre crop may keep


def _framings(first: np.ndarray, second: np.ndarray, variant: str):
    """The pairs to compare: ``second`` turned as ``variant`` says, then either photo centre-cropped
    (a hash matches across crops of other sizes: a 75% and a 90% crop of one photo; a centred crop
    keeps the centre, so the scale is all there is to find)."""
    second = TURNED[variant](second) if variant not in ("crop_90", "crop_75") else second
    yield first, second
    for area in CENTRE_CROPS[::-1]:
        yield first, centre_crop(second, area)
        yield centre_crop(first, area), second


def residual(first: np.ndarray, second: np.ndarray, variant: str) -> float:
    """The smallest block_residual of the framings of ``first`` and ``second`` (RGB or grey) for a
    hash matched as ``variant`` (a TURNED key). Another exposure stays high at every scale: its
    differences are local."""
    return min(block_residual(a, b) for a, b in _framings(first, second, variant))


def lines_up(first: np.ndarray, second: np.ndarray, variant: str, threshold: float) -> bool:
    """Whether some framing of the two differs by at most ``threshold`` (stops at the first)."""
    return any(block_residual(a, b) <= threshold for a, b in _framings(first, second, variant))


def two_exposures(
    pairs: list[tuple[int, int, str]], uris: list[str], chain: PhotoChain, threshold: float
) -> np.ndarray:
    """Which ``pairs`` (i, j, variant: indexes into ``uris`` and the TURNED key that makes j look like
    i) differ by more than ``threshold`` in some block: two exposures. Photos that cannot be read back
    leave their pairs as they were (False)."""
    wanted = sorted({photo for i, j, _ in pairs for photo in (i, j)})
    pixels = {}
    with Progress("dedup: candidate copies read back", len(wanted), "photo") as bar:
        for uri, decoded in chain.decoded([uris[p] for p in wanted], reduce_to=4 * SIDE):
            if isinstance(decoded, Decoded):
                pixels[uri] = grey(decoded.pixels)
            bar.advance()
    return np.array(
        [
            uris[i] in pixels
            and uris[j] in pixels
            and not lines_up(pixels[uris[i]], pixels[uris[j]], variant, threshold)
            for i, j, variant in pairs
        ],
        bool,
    )
