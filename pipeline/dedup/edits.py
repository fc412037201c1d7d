"""Is one photo an edited copy of another, and how was it edited, or are they two exposures of one scene?

A candidate pair is read back (at WORK_SIDE) and its ORB matches fitted with one similarity transform
(RANSAC): a crop, a scale, a small rotation, a photo set in a caption's, a screenshot's or a blurred
square's canvas all keep the photo's content under such a transform. The second photo is warped onto
the first, the grey levels of the overlap mapped onto each other (a colour filter, brightness, contrast,
a fade: any monotone change) and compared in blocks. An edited copy differs nowhere, or only where
something was drawn over it (a sticker, text): there the content of neither photo is found in the other
nearby. Another exposure differs where something moved: there each photo's content is found in the
other a few pixels away (a head turned, a mouth opened). Measured on LFW (README, Duplicates): the
differing blocks of 41 of its photo pairs shot a moment apart matched nearby at a median normalised
correlation of 0.2-0.98, most over 0.5; those of 25 photos with a sticker and text drawn on them at
0-0.6, most under 0.3.

Which photo is the original follows from the overlap: a crop covers part of the photo and nothing else;
a caption, a screenshot or a blurred fit adds canvas around all of it; a sticker adds drawn blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from pipeline import schema as S
from pipeline.ingest.chain import PhotoChain
from pipeline.ingest.decode import Decoded
from pipeline.progress import Progress

WORK_SIDE = 384  # the longer side photos are compared at
FEATURES = 1500  # ORB keypoints found per photo
RATIO = 0.8  # Lowe's ratio test of a match against the second nearest
MIN_INLIERS = 15  # matches agreeing on one transform below which two photos are unrelated
RANSAC_TOLERANCE = 2.5  # pixels at WORK_SIDE
BLOCK = 12  # pixels at WORK_SIDE: the blocks compared (a 32 x 32 grid)
DIFFERENT = 0.35  # a block's mean |difference| in standard deviations of the grey levels: it differs
SHIFT = 2  # pixels at WORK_SIDE a pixel may sit off its place (the transform's misfit, resampling)
MIN_SPREAD = 20.0  # grey levels: the deviation a flat photo (a plain wall) is measured against
COVERED = 0.97  # a photo whose share inside the other reaches this is whole in it
TURNED = 0.5  # degrees: a rotation at least this large is an edit
SEARCH, PATCH = 12, 16  # motion test: a differing block's patch searched this far around in the other photo
MOVED = 0.8  # normalised correlation at which the patch is found ...
MIN_SHIFT = 2  # ... at least this many pixels away: the content moved
STRAY_BLOCKS = 2  # differing blocks up to this many are noise
DRAWN_SHARE = 0.25  # an overlay: at most this share of the overlap drawn over, ...
MOVED_SHARE = 0.15  # ... at most this share of its differing blocks explained by motion, ...
NOVEL = 0.3  # ... and at least this share of their pixels of colours the other photo hardly shows
FILTERED = 6.0  # grey levels: the monotone map between the two differs from the identity by this much (mean)

CHUNK = 500  # pairs read back at a time (their photos held in memory together)


@dataclass(frozen=True)
class Features:
    """A photo read back: its colours and grey levels at WORK_SIDE, their ORB keypoints, and how many
    WORK_SIDE pixels one of its own pixels spans (over 1: it was enlarged, its detail is coarser)."""

    colour: np.ndarray
    grey: np.ndarray
    keypoints: np.ndarray  # (n, 2) places, pixels
    descriptors: np.ndarray | None
    enlarged: float


def features(pixels: np.ndarray) -> Features:
    """The Features of an upright RGB photo."""
    if pixels.ndim == 2:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    scale = WORK_SIDE / max(pixels.shape[:2])
    colour = cv2.resize(
        np.ascontiguousarray(pixels),
        None,
        fx=scale,
        fy=scale,
        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC,
    )
    grey = cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY)
    orb = cv2.ORB_create(nfeatures=FEATURES, fastThreshold=7, edgeThreshold=15, patchSize=21)
    found, descriptors = orb.detectAndCompute(grey, None)
    places = np.float32([point.pt for point in found]).reshape(-1, 2)
    return Features(colour, grey, places, descriptors, scale)


@dataclass(frozen=True)
class Comparison:
    """What reading back a pair (first, second) found. ``verdict``: "copy" (one is the other, edited or
    not), "two_exposures" (one scene, something moved) or "unrelated" (no transform fits). For a copy:
    ``original`` (0: the first, 1: the second, None: neither contains the other's content whole) and
    ``edits``, what was done to the other (S.EDIT_KINDS but stacked)."""

    verdict: str
    inliers: int = 0
    original: int | None = None
    edits: tuple[str, ...] = ()
    evidence: dict = field(default_factory=dict)


def _fit(first: Features, second: Features) -> tuple[np.ndarray | None, int, int]:
    """The similarity transform taking the second's pixels onto the first's, its inliers and the matches."""
    if first.descriptors is None or second.descriptors is None or min(len(first.keypoints), len(second.keypoints)) < 2:
        return None, 0, 0
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(second.descriptors, first.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < MIN_INLIERS:
        return None, len(good), len(good)
    source = second.keypoints[[m.queryIdx for m in good]]
    target = first.keypoints[[m.trainIdx for m in good]]
    transform, inliers = cv2.estimateAffinePartial2D(
        source, target, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_TOLERANCE, maxIters=4000, confidence=0.999
    )
    return transform, int(inliers.sum()) if transform is not None else 0, len(good)


def _covered(shape: tuple[int, int], transform: np.ndarray, other: tuple[int, int]) -> np.ndarray:
    """Which pixels of a photo of ``shape`` the other photo (of shape ``other``) covers under ``transform``."""
    return cv2.warpAffine(np.ones(other, np.uint8), transform, (shape[1], shape[0]), flags=cv2.INTER_NEAREST) > 0


def _blocks(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Weighted block means of ``values`` over the BLOCK grid (weights: which pixels count)."""
    rows, cols = values.shape[0] // BLOCK, values.shape[1] // BLOCK
    cut = (slice(0, rows * BLOCK), slice(0, cols * BLOCK))
    total = (values * weight)[cut].reshape(rows, BLOCK, cols, BLOCK).sum(axis=(1, 3))
    return total / np.maximum(weight[cut].reshape(rows, BLOCK, cols, BLOCK).sum(axis=(1, 3)), 1)


def _moved(first: np.ndarray, second: np.ndarray, block: tuple[int, int]) -> bool:
    """Whether the content of both photos around ``block`` is found in the other nearby but elsewhere (it
    moved). A block only partly drawn over matches where it is, if anywhere: that is no motion."""
    top = block[0] * BLOCK + BLOCK // 2 - PATCH // 2
    left = block[1] * BLOCK + BLOCK // 2 - PATCH // 2
    height, width = first.shape
    if top - SEARCH < 0 or left - SEARCH < 0 or top + PATCH + SEARCH > height or left + PATCH + SEARCH > width:
        return False
    for source, target in ((first, second), (second, first)):
        patch = source[top : top + PATCH, left : left + PATCH]
        if patch.std() < 2:  # flat: nothing to find
            return False
        window = target[top - SEARCH : top + PATCH + SEARCH, left - SEARCH : left + PATCH + SEARCH]
        scores = cv2.matchTemplate(window, patch, cv2.TM_CCOEFF_NORMED)
        row, col = np.unravel_index(np.argmax(scores), scores.shape)
        shifted = max(abs(row - SEARCH), abs(col - SEARCH)) >= MIN_SHIFT
        if scores[row, col] < MOVED or not shifted or scores[SEARCH, SEARCH] > scores[row, col] - 0.1:
            return False
    return True


def _adds_canvas(big: Features, transform: np.ndarray, small_shape: tuple[int, int]) -> bool:
    """Whether the small photo's rectangle, placed in the big one by ``transform`` (small -> big), shows
    as an edge there: a caption bar, a screenshot's frame or a blurred fit set around it. Where the big
    photo goes on beyond the small one's border (the small one is a crop of it), nothing steps there."""
    height, width = small_shape
    steps, controls = [], []
    for start, end, inward in (
        ((0, 0), (width, 0), (0, 1)),
        ((0, height), (width, height), (0, -1)),
        ((0, 0), (0, height), (1, 0)),
        ((width, 0), (width, height), (-1, 0)),
    ):
        along = np.linspace(0.1, 0.9, 24)[:, None] * (np.subtract(end, start)) + start
        inward_big = transform[:, :2] @ np.array(inward, np.float64)
        inward_big = inward_big / (np.linalg.norm(inward_big) + 1e-9)
        on_big = along @ transform[:, :2].T + transform[:, 2]
        values = [
            cv2.getRectSubPix(big.grey, (1, 1), tuple(map(float, on_big_point + offset * inward_big)))[0, 0]
            for on_big_point in on_big
            for offset in (-3.0, 3.0, 9.0)
        ]
        inside_big = (on_big[:, 0] > 4) & (on_big[:, 0] < big.grey.shape[1] - 4)
        inside_big &= (on_big[:, 1] > 4) & (on_big[:, 1] < big.grey.shape[0] - 4)
        values = np.array(values, np.float32).reshape(-1, 3)[inside_big]
        steps += list(np.abs(values[:, 0] - values[:, 1]))
        controls += list(np.abs(values[:, 1] - values[:, 2]))
    if not steps:
        return False
    return float(np.median(steps)) > 2 * float(np.median(controls)) + 4


def _canvas_kind(big: Features, transform: np.ndarray, small_shape: tuple[int, int]) -> str:
    """What the canvas the big photo adds around the small one is: bars above or below (a caption), a
    blurred enlargement (a fit), anything else (a screenshot). ``transform``: small -> big."""
    inside = _covered(big.grey.shape, transform, small_shape)
    cols = np.flatnonzero(inside.any(axis=0))
    if cols[0] <= 0.02 * inside.shape[1] and cols[-1] >= 0.98 * inside.shape[1]:
        return S.KIND_CAPTION
    detail = np.abs(cv2.Laplacian(big.grey, cv2.CV_32F))[~inside]
    return S.KIND_FIT if detail.size and detail.mean() < 1.5 else S.KIND_SCREENSHOT


def _novel(colours: np.ndarray, others: np.ndarray) -> float:
    """The share of ``colours`` (RGB rows) of a colour the ``others`` hardly show (under 0.1% of them,
    in 8 x 8 x 8 bins): what is drawn over a photo (an emoji, a sticker, coloured text) brings colours the
    photo has nowhere; a face that moved shows the colours it showed before."""
    if not len(colours) or not len(others):
        return 0.0
    bins = lambda rgb: (rgb[:, 0] // 32).astype(int) * 64 + (rgb[:, 1] // 32).astype(int) * 8 + rgb[:, 2] // 32
    counts = np.bincount(bins(others), minlength=512)
    return float(np.mean(counts[bins(colours)] < 0.001 * len(others)))


def compare(first: Features, second: Features) -> Comparison:
    """The Comparison of two photos read back (see the module's description)."""
    transform, inliers, matches = _fit(first, second)
    if transform is None or inliers < MIN_INLIERS:
        return Comparison("unrelated", inliers)
    height, width = first.grey.shape
    scale = float(np.hypot(*transform[:, 0]))
    # both at the coarser detail of the two (an enlarged crop is blurred: its blur is no difference)
    sigma = 0.6 * max(1.0, first.enlarged, max(1.0, second.enlarged) * scale)
    warped = cv2.warpAffine(second.grey.astype(np.float32), transform, (width, height), flags=cv2.INTER_LINEAR)
    warped = cv2.GaussianBlur(warped, (0, 0), sigma)
    first_grey = cv2.GaussianBlur(first.grey, (0, 0), sigma)
    overlap = _covered(first.grey.shape, transform, second.grey.shape)
    overlap &= cv2.erode(overlap.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0  # edges (a pixel's misfit) out
    if overlap.sum() < 64 * BLOCK * BLOCK:
        return Comparison("unrelated", inliers)
    mine, theirs = first_grey[overlap].astype(np.float32), warped[overlap]
    # the monotone grey map (a filter, a fade, exposure) through the two overlaps' quantiles
    levels = np.linspace(0, 100, 65)
    mapped = np.interp(theirs, *np.unique(np.c_[np.percentile(theirs, levels), np.percentile(mine, levels)], axis=0).T)
    # a pixel differs by how far it lies outside the range the other shows around it (a pixel's misfit of
    # the transform, at an edge, is no difference)
    levelled = np.zeros((height, width), np.float32)
    levelled[overlap] = mapped
    around = np.ones((2 * SHIFT + 1, 2 * SHIFT + 1), np.uint8)
    low, high = cv2.erode(levelled, around), cv2.dilate(levelled, around)
    outside = np.maximum(np.maximum(low - first_grey, first_grey - high), 0)
    difference = np.where(overlap, outside / max(float(mine.std()), MIN_SPREAD), 0).astype(np.float32)
    whole = _blocks(overlap.astype(np.float32), np.ones_like(difference)) > 0.99
    block_difference = _blocks(difference, overlap.astype(np.float32))
    differing = np.argwhere(whole & (block_difference > DIFFERENT))
    drawn = len(differing) / max(1, whole.sum())
    warped_grey = np.zeros_like(first.grey)
    warped_grey[overlap] = np.clip(mapped, 0, 255)  # the second in the first's grey levels, for the motion test
    moved = np.mean([_moved(first_grey, warped_grey, tuple(block)) for block in differing]) if len(differing) else 0.0
    novel = 0.0
    if len(differing):
        region = np.zeros((height, width), bool)
        for row, col in differing:
            region[row * BLOCK : (row + 1) * BLOCK, col * BLOCK : (col + 1) * BLOCK] = True
        region &= overlap
        warped_colour = cv2.warpAffine(second.colour, transform, (width, height), flags=cv2.INTER_LINEAR)
        rest = overlap & ~region
        novel = max(
            _novel(first.colour[region], warped_colour[rest]), _novel(warped_colour[region], first.colour[rest])
        )
    angle = float(np.degrees(np.arctan2(transform[1, 0], transform[0, 0])))
    first_in_second = float(overlap.mean())  # the share of the first that the second shows
    second_in_first = float(_covered(second.grey.shape, cv2.invertAffineTransform(transform), first.grey.shape).mean())
    evidence = {
        "agreement": round(inliers / max(matches, 1), 3),
        "inliers": inliers,
        "scale": round(scale, 4),
        "angle": round(angle, 2),
        "first_shown": round(first_in_second, 3),
        "second_shown": round(second_in_first, 3),
        "drawn_over": round(drawn, 4),
        "moved": round(float(moved), 3),
        "novel": round(novel, 3),
    }
    if len(differing) <= STRAY_BLOCKS:
        drawn = 0.0  # a block or two: noise (a JPEG's ringing, a pixel's misfit at an edge), no edit
    elif drawn > DRAWN_SHARE or moved > MOVED_SHARE or novel < NOVEL:
        return Comparison("two_exposures", inliers, evidence=evidence)
    edits: list[str] = []
    original: int | None = None
    first_whole, second_whole = first_in_second >= COVERED, second_in_first >= COVERED
    inverse = cv2.invertAffineTransform(transform)  # the first's pixels onto the second's
    if first_whole and not second_whole:  # the second shows all of the first and more
        if _adds_canvas(second, inverse, first.grey.shape):
            original, edits = 0, [_canvas_kind(second, inverse, first.grey.shape)]
        else:
            original, edits = 1, [S.KIND_CROP]  # the first is a crop of the second
    elif second_whole and not first_whole:
        if _adds_canvas(first, transform, second.grey.shape):
            original, edits = 1, [_canvas_kind(first, transform, second.grey.shape)]
        else:
            original, edits = 0, [S.KIND_CROP]
    if abs(angle) >= TURNED:
        edits.append(S.KIND_ROTATED)
    if drawn:
        edits.append(S.KIND_OVERLAY)
    if np.mean(np.abs(np.percentile(mine, levels) - np.percentile(theirs, levels))) > FILTERED:
        edits.append(S.KIND_FILTER)
    return Comparison("copy", inliers, original, tuple(edits), evidence)


def compare_pairs(pairs: list[tuple[int, int]], uris: list[str], chain: PhotoChain) -> list[Comparison]:
    """The Comparison of each pair (indexes into ``uris``), its photos read back through ``chain``: CHUNK
    pairs at a time, each photo of a chunk read once. A photo that cannot be read makes its pairs
    "unrelated"."""
    found: list[Comparison] = []
    with Progress("dedup: candidate edited copies read back", len(pairs), "pair") as bar:
        for start in range(0, len(pairs), CHUNK):
            chunk = pairs[start : start + CHUNK]
            wanted = sorted({photo for pair in chunk for photo in pair})
            read = {
                uri: features(decoded.pixels)
                for uri, decoded in chain.decoded([uris[p] for p in wanted], reduce_to=WORK_SIDE)
                if isinstance(decoded, Decoded)
            }
            for i, j in chunk:
                both = uris[i] in read and uris[j] in read
                found.append(compare(read[uris[i]], read[uris[j]]) if both else Comparison("unrelated"))
                bar.advance()
    return found
