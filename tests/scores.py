"""Seeded labelled pair scores for the verification metrics' tests."""

from __future__ import annotations

import numpy as np


def gaussian_pairs(
    seed: int, folds: int, per_class: int, genuine_mean: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per fold, per_class same pairs ~ N(genuine_mean, 1) then per_class different ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    fold_same = np.r_[np.ones(per_class, bool), np.zeros(per_class, bool)]
    same = np.tile(fold_same, folds)
    similarity = rng.normal(size=same.size) + genuine_mean * same
    return similarity, same, np.repeat(np.arange(folds), 2 * per_class)
