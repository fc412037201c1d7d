"""False-accept-rate curves from labelled similarities: counts of same- and different-person pairs at or
above a fine grid of thresholds (every pair of a labelled set, by blocks of matrix products, or an
explicit list of pairs), and the threshold where each target FAR is reached, with the TAR there."""

from __future__ import annotations

import numpy as np

# Target FARs of a curve, log-spaced from 1e-1 to 1e-6.
FAR_GRID = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6)
# Thresholds are counted on a grid of this step over [-1, 1]: finer than any FAR estimate can tell.
STEP = 1e-4
GRID = np.round(np.arange(-1.0, 1.0 + STEP / 2, STEP), 6)


def _grid_bins(similarity: np.ndarray) -> np.ndarray:
    """The grid bin of each similarity: bin k holds GRID[k] <= s < GRID[k + 1]."""
    return np.clip(np.floor((similarity + 1.0) / STEP).astype(np.int64), 0, GRID.size - 1)


def _at_or_above(bin_counts: np.ndarray) -> np.ndarray:
    """Per grid threshold, how many counted similarities are at or above it."""
    return np.cumsum(bin_counts[::-1])[::-1]


def pair_counts(similarity: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(same, different) pairs at or above each threshold of GRID, over explicit labelled pairs
    (NaN similarities, pairs without a face, are left out)."""
    scored = ~np.isnan(similarity)
    bins = _grid_bins(similarity[scored])
    same = same[scored]
    return (
        _at_or_above(np.bincount(bins[same], minlength=GRID.size)),
        _at_or_above(np.bincount(bins[~same], minlength=GRID.size)),
    )


def all_pair_counts(embeddings: np.ndarray, persons: np.ndarray, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(same, different) pairs at or above each threshold of GRID over every pair of the unit
    ``embeddings`` (n x d; person label per row): n (n - 1) / 2 similarities, computed a block of
    rows at a time and never held all at once."""
    vectors = np.ascontiguousarray(embeddings, np.float32)
    ids = np.unique(persons, return_inverse=True)[1]
    same_bins = np.zeros(GRID.size, np.int64)
    different_bins = np.zeros(GRID.size, np.int64)
    for start in range(0, len(vectors), block):
        rows = slice(start, min(start + block, len(vectors)))
        similarity = vectors[rows] @ vectors[start:].T  # each row against itself and every later row
        later = np.triu(np.ones(similarity.shape, bool), k=1)
        same = (ids[rows, None] == ids[None, start:]) & later
        bins = _grid_bins(similarity)
        same_bins += np.bincount(bins[same], minlength=GRID.size)
        different_bins += np.bincount(bins[later & ~same], minlength=GRID.size)
    return _at_or_above(same_bins), _at_or_above(different_bins)


def far_curve_points(same_above: np.ndarray, different_above: np.ndarray, fars=FAR_GRID) -> dict:
    """For each target FAR that the number of different-person pairs can measure (at least one pair
    above it) and some threshold reaches: the lowest grid threshold whose FAR is at most the target,
    the FAR and the TAR measured there. Returns a JSON-ready dict: fars, thresholds, tars,
    measured_fars, same_pairs, different_pairs, and different_person_level: the median similarity of the
    different-person pairs (to the grid's step; None without such pairs)."""
    same_pairs, different_pairs = int(same_above[0]), int(different_above[0])
    points: dict = {"fars": [], "thresholds": [], "tars": [], "measured_fars": []}
    for far in fars:
        low_enough = np.flatnonzero(different_above / different_pairs <= far)  # the rate never rises along the grid
        if different_pairs * far < 1 or low_enough.size == 0:
            continue
        k = int(low_enough[0])
        points["fars"].append(far)
        points["thresholds"].append(float(GRID[k]))
        points["tars"].append(float(same_above[k] / max(same_pairs, 1)))
        points["measured_fars"].append(float(different_above[k] / different_pairs))
    level = None
    if different_pairs:
        level = float(GRID[int(np.flatnonzero(different_above / different_pairs <= 0.5)[0])])
    return {**points, "same_pairs": same_pairs, "different_pairs": different_pairs, "different_person_level": level}
