"""Is one photo an edited copy of another, and how was it edited, or are they two exposures of one scene?

A candidate pair is read back (at WORK_SIDE) and its ORB matches fitted with one similarity transform
(RANSAC): a crop, a scale, a small rotation, a photo set in a caption's, a screenshot's or a blurred
square's canvas all keep the photo's content under such a transform. The evidence, in the order it is
weighed:

- **Motion or a different scene.** The second photo is warped onto the first, its grey levels brought
  to the first's (a monotone map for a colour filter, a fade, exposure or contrast, and a smooth gain
  over the photo for a vignette) and the two compared in blocks. An edited copy differs nowhere, or
  where something was drawn over it (a sticker, text): there it brings colours the photo shows nowhere
  else, and neither photo's content is found in the other nearby. Another exposure differs where
  something moved (each photo's content is found in the other a few pixels away: a head turned, a
  mouth opened), with colours both show. Two exposures: blocks moved (over MOVED_SHARE of those
  told) without novel colours (under NOVEL of their pixels), or more of them (NOVEL_MOVED_SHARE) over
  a wider area (MOVED_DRAWN) with them, or a large area differs (DRAWN_SHARE) without novel colours
  or with blocks moved.
- **Containment.** A copy shows one photo whole (COVERED) in the other: two partial crops of one
  photo, or two photos sharing an app's frame, are not copies of each other.
- **Coverage.** The matches agree all over what the two share (MIN_COVERAGE of the cells of a grid
  that hold keypoints hold an agreeing one), not only on a shared frame, caption bar or toolbar.

Which photo is the original follows from the overlap: a crop covers part of the photo and nothing
else (at least MIN_CROP_SHARE of it); a caption, a screenshot or a blurred fit adds canvas around all
of it, upright (the photo at least MIN_CANVAS_SHARE of the canvas); a sticker adds drawn blocks, in
colours the photo drawn over holds there and the other nowhere.

Measured on the keypoint candidates of a library of 3,660 LFW and pins photos with 40-50 copies of each
app kind (benchmarks.app_copies), a photo and its copy in 441 of them: 48/48 blurred fits, 56/58 captions,
59/59 filtered, 54/57 free crops, 52/52 overlaid, 55/57 rotations, 52/55 screenshots and 53/55 stacked
edits read back as copies of their original; of 1,022 pairs of different photos three were called
copies, each one photograph filed twice (pins' Tom_Cruise27 and 96, LFW's Ari_Fleischer_0006 and 0011).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from pipeline import schema as S
from pipeline.ingest.chain import PhotoChain
from pipeline.ingest.decode import Decoded
from pipeline.progress import Progress
from pipeline.runtime.tasks import LocalTasks, Tasks, task_report

log = logging.getLogger(__name__)

WORK_SIDE = 384  # the longer side photos are compared at
FEATURES = 1500  # ORB keypoints found per photo
# FAST's corner threshold (grey levels): low, so that soft photos have corners (on 441 pairs of a photo and
# its app-made copy: 390 read back as copies at 7, 429 at 3; pairs of different photos called copies: 3 either way)
CORNER_THRESHOLD = 3
RATIO = 0.8  # Lowe's ratio test of a match against the second nearest
MIN_INLIERS = 15  # matches agreeing on one transform below which two photos are unrelated
RANSAC_TOLERANCE = 2.5  # pixels at WORK_SIDE
MAX_SCALE = 4.0  # a fit scaling more than this either way is degenerate (a photo in a canvas at MIN_CANVAS_SHARE
# of its area spans 1/sqrt(0.1) = 3.2x less of its side; RANSAC on a soft photo's keypoints can fit scale 0,
# every match mapped onto one spot)
BLOCK = 12  # pixels at WORK_SIDE: the blocks compared (a 32 x 32 grid)
DIFFERENT = 0.35  # a block's mean |difference| in standard deviations of the grey levels: it differs
SHIFT = 2  # pixels at WORK_SIDE a pixel may sit off its place (the transform's misfit, resampling)
MIN_SPREAD = 20.0  # grey levels: the deviation a flat photo (a plain wall) is measured against
PLAIN = 0.3  # a canvas beyond a side of a photo varies along it under this share of the photo
PLAIN_CANVAS = 0.5  # share of a canvas within 8 grey levels of one level: an app's plain background
FIT_DETAIL = 0.5  # a blurred fit's canvas has under this share of the photo's detail (measured: 0.04-0.66)
COVERED = 0.97  # a photo whose share inside the other reaches this is whole in it
TURNED = 0.5  # degrees: a rotation at least this large is an edit
SEARCH, PATCH = 12, 16  # motion test: a differing block's patch searched this far around in the other photo
MOVED = 0.7  # normalised correlation at which the patch is found (better than where it is: it moved)
TEXTURED = 4.0  # grey levels: a block this varied (in either photo) shows something
GRID = 6  # coverage: the inliers' spread over the overlap, in cells of a GRID x GRID grid
MIN_COVERAGE = 0.35
MIN_CROP_SHARE = 0.25  # a crop keeps at least this share of the area
MIN_CANVAS_SHARE = 0.1  # a photo set in a canvas fills at least this share of it
STRAY_BLOCKS = 2  # differing blocks up to this many are noise
NOVEL = 0.25  # share of the differing pixels of colours the other photo hardly shows: something drawn
MOVED_SHARE = 0.1  # share of the differing blocks found moved nearby: two exposures without novel colours
NOVEL_MOVED_SHARE = 0.2  # with them, this share: two exposures when they differ over more than ...
MOVED_DRAWN = 0.06  # ... this share of the informative blocks (a burst of LFW: 0.08; overlays 0.01-0.05)
DRAWN_SHARE = 0.25  # share of the informative blocks differing: two exposures without novel colours, or
# with them when MOVED_SHARE moved (overlays this large: 0.03-0.05 moved; LFW's Gerhard_Schroeder_0035/36: 0.11)
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
    orb = cv2.ORB_create(nfeatures=FEATURES, fastThreshold=CORNER_THRESHOLD, edgeThreshold=15, patchSize=21)
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


@dataclass(frozen=True)
class Fit:
    """The similarity transform taking the second photo's pixels onto the first's, the matches it was
    fitted to and the places of those it holds for (inliers) in either photo."""

    transform: np.ndarray | None
    matches: int
    in_first: np.ndarray
    in_second: np.ndarray

    @property
    def inliers(self) -> int:
        return len(self.in_first)


NO_FIT = Fit(None, 0, np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32))


def _fit(first: Features, second: Features) -> Fit:
    """The Fit of the second photo onto the first: ORB matches passing the ratio test, RANSAC."""
    if first.descriptors is None or second.descriptors is None or min(len(first.keypoints), len(second.keypoints)) < 2:
        return NO_FIT
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(second.descriptors, first.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < MIN_INLIERS:
        return NO_FIT
    source = second.keypoints[[m.queryIdx for m in good]]
    target = first.keypoints[[m.trainIdx for m in good]]
    transform, inliers = cv2.estimateAffinePartial2D(
        source, target, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_TOLERANCE, maxIters=4000, confidence=0.999
    )
    if not plausible(transform):
        return NO_FIT
    held = inliers.ravel() > 0
    return Fit(transform, len(good), target[held], source[held])


def plausible(transform: np.ndarray | None) -> bool:
    """Whether a fitted similarity ``transform`` may be an edit's: it exists and scales under MAX_SCALE
    either way."""
    return transform is not None and 1 / MAX_SCALE <= np.hypot(*transform[:, 0]) <= MAX_SCALE


def _covered(shape: tuple[int, int], transform: np.ndarray, other: tuple[int, int]) -> np.ndarray:
    """Which pixels of a photo of ``shape`` the other photo (of shape ``other``) covers under ``transform``."""
    return cv2.warpAffine(np.ones(other, np.uint8), transform, (shape[1], shape[0]), flags=cv2.INTER_NEAREST) > 0


def _blocks(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Weighted block means of ``values`` over the BLOCK grid (weights: which pixels count)."""
    rows, cols = values.shape[0] // BLOCK, values.shape[1] // BLOCK
    cut = (slice(0, rows * BLOCK), slice(0, cols * BLOCK))
    total = (values * weight)[cut].reshape(rows, BLOCK, cols, BLOCK).sum(axis=(1, 3))
    return total / np.maximum(weight[cut].reshape(rows, BLOCK, cols, BLOCK).sum(axis=(1, 3)), 1)


def _adds_canvas(big: Features, transform: np.ndarray, small_shape: tuple[int, int]) -> bool:
    """Whether the small photo's rectangle, placed in the big one by ``transform`` (small -> big), is set
    in a canvas there (a caption bar, a screenshot's app, a blurred fit) rather than cut from a photo
    that goes on beyond it (a crop). Each side of the rectangle inside the big photo is a canvas's when
    the big photo steps there (its grey level jumps across the side more than it varies beyond it: a
    crop's original goes on varying as it did), or when beyond the side it is plain (varying along the
    side under PLAIN of what it varies just inside: a dark bar beside a dark photo); the rectangle is in
    a canvas when most sides are."""
    height, width = small_shape
    canvas_sides = sides = 0
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
        inside_big = (on_big[:, 0] > 10) & (on_big[:, 0] < big.grey.shape[1] - 10)
        inside_big &= (on_big[:, 1] > 10) & (on_big[:, 1] < big.grey.shape[0] - 10)
        if inside_big.sum() < len(along) // 2:  # this side lies on the big photo's own border
            continue
        values = np.array(
            [
                cv2.getRectSubPix(big.grey, (1, 1), tuple(map(float, point + offset * inward_big)))[0, 0]
                for point in on_big[inside_big]
                for offset in (-9.0, -3.0, 3.0, 9.0)
            ],
            np.float32,
        ).reshape(-1, 4)
        step = np.median(np.abs(values[:, 1] - values[:, 2]))
        control = np.median(np.abs(values[:, 0] - values[:, 1]))  # how the big photo varies beyond the side
        plain = values[:, 0].std() < PLAIN * values[:, 3].std() and values[:, 3].std() > MIN_SPREAD / 2
        sides += 1
        canvas_sides += bool(step > 2 * control + 4 or plain)
    return sides > 0 and 2 * canvas_sides >= sides


def _canvas_kind(big: Features, transform: np.ndarray, small_shape: tuple[int, int]) -> str:
    """What the canvas the big photo adds around the small one is: bars above or below (a caption), a
    blurred enlargement (a fit: no plain colour, under FIT_DETAIL of the photo's detail), anything else
    (a screenshot). ``transform``: small -> big."""
    inside = _covered(big.grey.shape, transform, small_shape)
    cols = np.flatnonzero(inside.any(axis=0))
    if cols[0] <= 0.02 * inside.shape[1] and cols[-1] >= 0.98 * inside.shape[1]:
        return S.KIND_CAPTION
    margin = np.ones((7, 7), np.uint8)
    canvas = cv2.dilate(inside.astype(np.uint8), margin) == 0
    photo = cv2.erode(inside.astype(np.uint8), margin) > 0
    if not canvas.any() or not photo.any():
        return S.KIND_SCREENSHOT
    levels = np.bincount(big.grey[canvas] // 8, minlength=32)
    plain = (levels + np.r_[levels[1:], 0] + np.r_[0, levels[:-1]]).max() / canvas.sum()  # one level +- 8
    detail = np.abs(cv2.Laplacian(big.grey, cv2.CV_32F))
    blurred = detail[canvas].mean() < FIT_DETAIL * detail[photo].mean()
    return S.KIND_FIT if plain < PLAIN_CANVAS and blurred else S.KIND_SCREENSHOT


def _novel(colours: np.ndarray, others: np.ndarray) -> float:
    """The share of ``colours`` (RGB rows) of a colour the ``others`` hardly show (under 0.1% of them,
    in 8 x 8 x 8 bins): what is drawn over a photo (an emoji, a sticker, coloured text) brings colours the
    photo has nowhere; a face that moved shows the colours it showed before."""
    if not len(colours) or not len(others):
        return 0.0
    bins = lambda rgb: (rgb[:, 0] // 32).astype(int) * 64 + (rgb[:, 1] // 32).astype(int) * 8 + rgb[:, 2] // 32
    counts = np.bincount(bins(others), minlength=512)
    return float(np.mean(counts[bins(colours)] < 0.001 * len(others)))


def _levelled(target: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``source``'s grey levels (float32, at ``mask``) brought to ``target``'s: a monotone map through the
    two overlaps' quantiles (a colour filter, a fade, exposure, contrast), a smooth gain over the photo
    (a vignette: a quadratic in x and y of the log ratio, fitted to the three quarters of pixels it fits
    best, so that a sticker does not bend it), the monotone map again."""
    levels = np.linspace(0, 100, 65)

    def mapped(values: np.ndarray) -> np.ndarray:
        knots = np.unique(np.c_[np.percentile(values, levels), np.percentile(target[mask], levels)], axis=0).T
        return np.interp(values, *knots).astype(np.float32)

    out = np.zeros(target.shape, np.float32)
    out[mask] = mapped(source[mask])
    rows, cols = np.nonzero(mask)
    step = max(1, len(rows) // 4000)
    rows, cols = rows[::step], cols[::step]
    smooth_target = cv2.GaussianBlur(target.astype(np.float32), (0, 0), 4)
    smooth_source = cv2.GaussianBlur(out, (0, 0), 4)
    ratio = np.log((smooth_target[rows, cols] + 16) / (smooth_source[rows, cols] + 16))
    y, x = rows / target.shape[0] - 0.5, cols / target.shape[1] - 0.5
    terms = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)
    kept = np.ones(len(ratio), bool)
    for _ in range(2):
        coefficients = np.linalg.lstsq(terms[kept], ratio[kept], rcond=None)[0]
        misfit = np.abs(terms @ coefficients - ratio)
        kept = misfit <= np.percentile(misfit, 75)
    all_y, all_x = np.nonzero(mask)
    y, x = all_y / target.shape[0] - 0.5, all_x / target.shape[1] - 0.5
    gain = np.exp(np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1) @ coefficients)
    out[mask] = mapped((out[mask] + 16) * gain - 16)
    return out


def _coverage(places: np.ndarray, keypoints: np.ndarray, inside: np.ndarray) -> float:
    """The share of the cells of a GRID x GRID grid over the region ``inside`` (a mask) holding at least 2 of a
    photo's ``keypoints`` that hold one of its inlier ``places`` too: copies agree all over what they share,
    two photos sharing only a frame, a caption bar or an app's toolbars agree there only."""
    rows, cols = np.nonzero(inside)
    top, left = rows.min(), cols.min()
    height, width = rows.max() + 1 - top, cols.max() + 1 - left

    def counts(points: np.ndarray) -> np.ndarray:
        x, y = points[:, 0].astype(int), points[:, 1].astype(int)
        on = (x >= 0) & (y >= 0) & (x < inside.shape[1]) & (y < inside.shape[0])
        x, y = x[on], y[on]
        x, y = x[inside[y, x]], y[inside[y, x]]
        cell = np.minimum((y - top) * GRID // height, GRID - 1) * GRID + np.minimum(
            (x - left) * GRID // width, GRID - 1
        )
        return np.bincount(cell, minlength=GRID * GRID)

    found = counts(keypoints) >= 2
    return float((found & (counts(places) > 0)).sum() / max(1, found.sum()))


def _found_near(first: np.ndarray, second: np.ndarray, block: tuple[int, int]) -> bool | None:
    """Whether the content of both photos around ``block`` is found in the other nearby, better than where
    it is (something moved there), False where one photo's is found nowhere near (something drawn over),
    None where both are flat. At the photo's edge the patch and the search stay inside it."""
    height, width = first.shape
    top = min(max(block[0] * BLOCK + BLOCK // 2 - PATCH // 2, 0), height - PATCH)
    left = min(max(block[1] * BLOCK + BLOCK // 2 - PATCH // 2, 0), width - PATCH)
    window_top, window_left = max(top - SEARCH, 0), max(left - SEARCH, 0)
    window = (
        slice(window_top, min(top + PATCH + SEARCH, height)),
        slice(window_left, min(left + PATCH + SEARCH, width)),
    )
    flat = 0
    for source, target in ((first, second), (second, first)):
        patch = source[top : top + PATCH, left : left + PATCH]
        if patch.std() < 2:
            flat += 1
            continue
        scores = cv2.matchTemplate(target[window], patch, cv2.TM_CCOEFF_NORMED)
        best = float(scores.max())
        if best < MOVED or best < scores[top - window_top, left - window_left] + 0.1:
            return False
    return None if flat == 2 else flat == 0


def compare(first: Features, second: Features) -> Comparison:
    """The Comparison of two photos read back (see the module's description)."""
    fit = _fit(first, second)
    if fit.transform is None or fit.inliers < MIN_INLIERS:
        return Comparison("unrelated", fit.inliers)
    transform = fit.transform
    height, width = first.grey.shape
    scale = float(np.hypot(*transform[:, 0]))
    inverse = cv2.invertAffineTransform(transform)  # the first's pixels onto the second's
    first_in_second = _covered(first.grey.shape, transform, second.grey.shape)  # what of the first the second shows
    second_in_first = _covered(second.grey.shape, inverse, first.grey.shape)
    overlap = first_in_second & (cv2.erode(first_in_second.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0)
    if overlap.sum() < 64 * BLOCK * BLOCK:
        return Comparison("unrelated", fit.inliers)
    # both at the coarser detail of the two (an enlarged crop is blurred: its blur is no difference)
    sigma = 0.6 * max(1.0, first.enlarged, max(1.0, second.enlarged) * scale)
    warped = cv2.warpAffine(second.grey.astype(np.float32), transform, (width, height), flags=cv2.INTER_LINEAR)
    warped = cv2.GaussianBlur(warped, (0, 0), sigma)
    first_grey = cv2.GaussianBlur(first.grey, (0, 0), sigma).astype(np.float32)
    levelled = _levelled(first_grey, warped, overlap)
    # a pixel differs by how far it lies outside the range the other shows around it (a pixel's misfit of
    # the transform, at an edge, is no difference)
    around = np.ones((2 * SHIFT + 1, 2 * SHIFT + 1), np.uint8)
    low, high = cv2.erode(levelled, around), cv2.dilate(levelled, around)
    outside = np.maximum(np.maximum(low - first_grey, first_grey - high), 0)
    spread = max(float(first_grey[overlap].std()), MIN_SPREAD)
    difference = np.where(overlap, outside / spread, 0).astype(np.float32)
    weight = overlap.astype(np.float32)
    whole = _blocks(weight, np.ones_like(difference)) > 0.99
    texture = np.maximum(
        np.sqrt(np.maximum(_blocks(first_grey**2, weight) - _blocks(first_grey, weight) ** 2, 0)),
        np.sqrt(np.maximum(_blocks(levelled**2, weight) - _blocks(levelled, weight) ** 2, 0)),
    )
    differs = whole & (_blocks(difference, weight) > DIFFERENT)
    informative = whole & ((texture >= TEXTURED) | differs)
    differing = np.argwhere(differs)
    near = [_found_near(first_grey, np.clip(levelled, 0, 255), tuple(block)) for block in differing]
    moved = sum(1 for found in near if found)
    told = sum(1 for found in near if found is not None)
    novel = novel_first = 0.0
    agree = overlap  # where the two show the same: a filter is told there, not by what is drawn over
    if len(differing):
        region = np.zeros((height, width), bool)
        for row, col in differing:
            region[row * BLOCK : (row + 1) * BLOCK, col * BLOCK : (col + 1) * BLOCK] = True
        region &= overlap
        warped_colour = cv2.warpAffine(second.colour, transform, (width, height), flags=cv2.INTER_LINEAR)
        rest = overlap & ~region
        agree = rest if rest.any() else overlap
        novel_first = _novel(first.colour[region], warped_colour[rest])  # drawn over the first
        novel = max(novel_first, _novel(warped_colour[region], first.colour[rest]))
    angle = float(np.degrees(np.arctan2(transform[1, 0], transform[0, 0])))
    first_shown, second_shown = float(first_in_second.mean()), float(second_in_first.mean())
    cover = min(
        _coverage(fit.in_first, first.keypoints, overlap),
        _coverage(fit.in_second, second.keypoints, second_in_first),
    )
    levels = np.linspace(0, 100, 65)
    filtered = float(np.mean(np.abs(np.percentile(first_grey[agree], levels) - np.percentile(warped[agree], levels))))
    evidence = {
        "filtered": round(filtered, 2),
        "agreement": round(fit.inliers / max(fit.matches, 1), 3),
        "inliers": fit.inliers,
        "coverage": round(cover, 3),
        "scale": round(scale, 4),
        "angle": round(angle, 2),
        "first_shown": round(first_shown, 3),
        "second_shown": round(second_shown, 3),
        "drawn_over": round(len(differing) / max(1, informative.sum()), 4),
        "differing": len(differing),
        "moved": round(moved / max(1, told), 3),
        "novel": round(novel, 3),
        "drawn_on_first": bool(novel_first >= novel),
    }
    return _verdict(first, second, transform, evidence)


def _verdict(first: Features, second: Features, transform: np.ndarray, evidence: dict) -> Comparison:
    """The Comparison the ``evidence`` of compare() makes (see the module's description)."""
    inliers, differing, novel = evidence["inliers"], evidence["differing"], evidence["novel"] >= NOVEL
    drawn_wide = evidence["drawn_over"] > MOVED_DRAWN and evidence["moved"] > NOVEL_MOVED_SHARE
    moved = evidence["moved"] > MOVED_SHARE and (not novel or drawn_wide or evidence["drawn_over"] > DRAWN_SHARE)
    if differing > STRAY_BLOCKS and (moved or (not novel and evidence["drawn_over"] > DRAWN_SHARE)):
        return Comparison("two_exposures", inliers, evidence=evidence)
    first_whole, second_whole = evidence["first_shown"] >= COVERED, evidence["second_shown"] >= COVERED
    if not (first_whole or second_whole) or evidence["coverage"] < MIN_COVERAGE:
        return Comparison("unrelated", inliers, evidence=evidence)
    edits: list[str] = []
    original: int | None = None
    if first_whole != second_whole:  # one shows all of the other and more: a crop of it, or it in a canvas
        big, small, onto_big = (
            (second, first, cv2.invertAffineTransform(transform)) if first_whole else (first, second, transform)
        )
        share = small.grey.size * (evidence["scale"] ** (-2 if first_whole else 2)) / big.grey.size
        # apps set a photo in a canvas upright: a small photo turned inside a big one was cut from it (a
        # rotation straightened and cropped), whatever the big one shows beyond it (LFW's black borders)
        upright = abs(evidence["angle"]) < TURNED
        if upright and _adds_canvas(big, onto_big, small.grey.shape):
            edits, least, original = (
                [_canvas_kind(big, onto_big, small.grey.shape)],
                MIN_CANVAS_SHARE,
                int(not first_whole),
            )
        else:
            edits, least, original = [S.KIND_CROP], MIN_CROP_SHARE, int(first_whole)
        if share < least:
            return Comparison("unrelated", inliers, evidence=evidence)
    if abs(evidence["angle"]) >= TURNED:
        edits.append(S.KIND_ROTATED)
    if differing > STRAY_BLOCKS:
        edits.append(S.KIND_OVERLAY)
        if original is None and novel and evidence["filtered"] <= FILTERED:
            original = int(evidence["drawn_on_first"])  # the same frame: the original is the one not drawn over
            # (after a colour filter either photo's colours are new to the other: neither is told)
    if evidence["filtered"] > FILTERED:
        edits.append(S.KIND_FILTER)
    return Comparison("copy", inliers, original, tuple(edits), evidence)


def _compare_chunk(threads: int, chain: PhotoChain, uris: list[str], pairs: list[tuple[int, int]]):
    """Task: the Comparison of each of ``pairs`` (indexes into ``uris``, the chunk's photos, each read once),
    and the task's report."""
    started = time.perf_counter()
    read = {
        uri: features(decoded.pixels)
        for uri, decoded in chain.decoded(uris, reduce_to=WORK_SIDE)
        if isinstance(decoded, Decoded)
    }
    found = [
        compare(read[uris[i]], read[uris[j]]) if uris[i] in read and uris[j] in read else Comparison("unrelated")
        for i, j in pairs
    ]
    return found, task_report(started, pairs=len(pairs), photos=len(uris), read=len(read))


def compare_pairs(
    pairs: list[tuple[int, int]], uris: list[str], chain: PhotoChain, tasks: Tasks | None = None
) -> list[Comparison]:
    """The Comparison of each pair (indexes into ``uris``), its photos read back through ``chain``: CHUNK
    pairs to a task (``tasks``, default this process), each photo of a chunk read once. A photo that
    cannot be read makes its pairs "unrelated"."""
    tasks = tasks or LocalTasks()
    chunks = [pairs[start : start + CHUNK] for start in range(0, len(pairs), CHUNK)]

    def submitted(chunk: list[tuple[int, int]]):
        wanted = sorted({photo for pair in chunk for photo in pair})
        local = {photo: k for k, photo in enumerate(wanted)}
        shipped = [(local[i], local[j]) for i, j in chunk]
        return tasks.submit(_compare_chunk, chain, [uris[p] for p in wanted], shipped, returns=2)

    window = 2 * tasks.cpus  # chunks in flight: every CPU busy, the photos of a few chunks in memory
    handles = [submitted(chunk) for chunk in chunks[:window]]
    found: list[Comparison] = []
    reports = []
    with Progress("dedup: candidate edited copies read back", len(pairs), "pair") as bar:
        for k, chunk in enumerate(chunks):
            comparisons, report = handles[k]
            found += tasks.get(comparisons)
            reports.append(report)
            bar.advance(len(chunk))
            if k + window < len(chunks):
                handles.append(submitted(chunks[k + window]))
    if reports:
        log.info("read-back: %s", tasks.get(reports))
    return found
