"""FAR curves: pair counts over every pair against brute-force enumeration, and the thresholds at
target FARs against counting by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pipeline.metrics.far_curve import GRID, all_pair_counts, far_curve_points, pair_counts


def test_every_pair_is_counted_once_as_enumerating_the_pairs_does(faces) -> None:
    vectors, persons = faces
    pairs = np.array(list(itertools.combinations(range(len(vectors)), 2)))
    similarity = np.einsum("ij,ij->i", vectors[pairs[:, 0]], vectors[pairs[:, 1]])
    same = persons[pairs[:, 0]] == persons[pairs[:, 1]]
    by_blocks = all_pair_counts(vectors, persons, block=37)  # blocks that do not divide the rows
    enumerated = pair_counts(similarity, same)
    assert by_blocks[0][0] == same.sum() and by_blocks[1][0] == (~same).sum()
    for counted, expected in zip(by_blocks, enumerated):
        # float32 sums in another order may put a similarity in the neighbouring 1e-4 bin
        assert np.abs(counted - expected).max() <= 2


def test_thresholds_let_through_at_most_the_target_share_and_unmeasurable_fars_are_left_out() -> None:
    rng = np.random.default_rng(3)
    different, same = rng.normal(0.05, 0.1, 20_000), rng.normal(0.6, 0.1, 2_000)
    similarity = np.r_[different, same]
    points = far_curve_points(*pair_counts(similarity, np.r_[np.zeros(20_000, bool), np.ones(2_000, bool)]))
    assert points["fars"] == [1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4]  # 3e-5 of 20,000 pairs: 0.6 of a pair
    assert points["different_pairs"] == 20_000 and points["same_pairs"] == 2_000
    for far, threshold, tar, measured in zip(
        points["fars"], points["thresholds"], points["tars"], points["measured_fars"]
    ):
        assert measured == pytest.approx(np.mean(different >= threshold)) and measured <= far
        lower = GRID[np.searchsorted(GRID, threshold) - 1]
        assert np.mean(different >= lower) > far  # one grid step lower lets too many through
        assert tar == pytest.approx(np.mean(same >= threshold))
    assert np.all(np.diff(points["thresholds"]) > 0) and np.all(np.diff(points["tars"]) <= 0)
    # the median of the different-person pairs, to the grid's step: what a small library is capped at
    assert points["different_person_level"] == pytest.approx(np.median(different), abs=2e-4)


def test_unscored_pairs_are_left_out_of_the_counts() -> None:
    same_above, different_above = pair_counts(np.array([0.5, np.nan, 0.2]), np.array([True, True, False]))
    assert same_above[0] == 1 and different_above[0] == 1
    assert same_above[np.searchsorted(GRID, 0.5)] == 1 and same_above[np.searchsorted(GRID, 0.5001)] == 0
