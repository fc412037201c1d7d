"""The verification protocol and open-set identification figures, against brute-force references."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.metrics.verification import open_set_metrics, roc_curve, verification_metrics
from tests.scores import gaussian_pairs


def test_open_set_metrics_match_counting_by_hand() -> None:
    genuine = np.array([0.9, 0.8, 0.7, 0.4, 0.35])
    correct = np.array([True, True, False, True, True])
    impostors = np.linspace(0.0, 0.5, 100)  # the top one is 0.5
    metrics = open_set_metrics(genuine, correct, impostors, fars=(0.01, 0.1))
    assert metrics["rank1"] == pytest.approx(0.8)
    # 1% of 100 impostors = 1 may pass: threshold just above the 2nd highest (0.4949...)
    assert metrics["measured_far_0.01"] == pytest.approx(0.01)
    assert metrics["dir_at_far_0.01"] == pytest.approx(2 / 5)  # 0.9, 0.8 correct and above
    assert metrics["measured_far_0.1"] == pytest.approx(0.1)
    assert metrics["dir_at_far_0.1"] == pytest.approx(2 / 5)  # 0.4 is below the 11th-highest impostor 0.449


def _brute_force_accuracy(similarity: list, same: list, folds: list) -> list[float]:
    """Per-fold held-out accuracy, by enumeration: accept when score >= threshold; every
    midpoint between consecutive distinct training scores, the lowest score (accept all) and
    just above the highest (reject all) tried; ties to the lowest; NaN always wrong."""
    accuracies = []
    for fold in sorted(set(folds)):
        train = [(s, t) for s, t, f in zip(similarity, same, folds) if f != fold]
        test = [(s, t) for s, t, f in zip(similarity, same, folds) if f == fold]
        scores = sorted({s for s, _ in train if not math.isnan(s)})
        candidates = [scores[0]]
        candidates += [(low + high) / 2 for low, high in zip(scores, scores[1:])]
        candidates.append(math.nextafter(scores[-1], math.inf))

        def correct(pairs: list, threshold: float) -> int:
            return sum(not math.isnan(s) and (s >= threshold) == t for s, t in pairs)

        best, best_correct = None, -1
        for threshold in candidates:
            count = correct(train, threshold)
            if count > best_correct:
                best, best_correct = threshold, count
        accuracies.append(correct(test, best) / len(test))
    return accuracies


@pytest.mark.parametrize("folds", [10, 1])
def test_separable_scores_give_perfect_accuracy(folds: int) -> None:
    rng = np.random.default_rng(0)
    same = np.tile(np.r_[np.ones(30, bool), np.zeros(30, bool)], folds)
    similarity = np.where(same, rng.uniform(0.7, 1.0, same.size), rng.uniform(-0.2, 0.3, same.size))
    metrics = verification_metrics(similarity, same, np.repeat(np.arange(folds), 60))
    assert metrics["accuracy"] == 1.0
    assert metrics["accuracy_std"] == 0.0
    assert metrics["fold_accuracies"] == [1.0] * folds
    assert 0.3 < metrics["threshold"] < 0.7
    assert metrics["pairs"] == 60 * folds and metrics["unscored_pairs"] == 0


@pytest.mark.parametrize("variant", ["continuous", "rounded-with-ties", "with-unscored"])
def test_accuracy_matches_brute_force_reference(variant: str) -> None:
    similarity, same, folds = gaussian_pairs(seed=7, folds=10, per_class=30, genuine_mean=1.0)
    if variant == "rounded-with-ties":
        similarity = np.round(similarity, 1)
    if variant == "with-unscored":
        similarity[np.random.default_rng(8).choice(similarity.size, 25, replace=False)] = np.nan
    metrics = verification_metrics(similarity, same, folds)
    expected = _brute_force_accuracy(similarity.tolist(), same.tolist(), folds.tolist())
    assert metrics["fold_accuracies"] == pytest.approx(expected, abs=1e-9)
    assert metrics["accuracy"] == pytest.approx(np.mean(expected), abs=1e-9)
    assert metrics["accuracy_std"] == pytest.approx(np.std(expected), abs=1e-9)
    assert 0.6 < metrics["accuracy"] < 0.8  # overlapping classes: d' = 1 gives about 0.69


def test_unscored_pairs_count_as_errors() -> None:
    rng = np.random.default_rng(1)
    same = np.tile(np.r_[np.ones(50, bool), np.zeros(50, bool)], 4)
    folds = np.repeat(np.arange(4), 100)
    similarity = np.where(same, rng.uniform(0.7, 1.0, same.size), rng.uniform(0.0, 0.3, same.size))
    # fold 0: three same pairs unscored; fold 1: two different; fold 2: one of each; fold 3: none
    for index in [0, 1, 2, 150, 151, 200, 250]:
        similarity[index] = np.nan
    metrics = verification_metrics(similarity, same, folds)
    assert metrics["fold_accuracies"] == pytest.approx([0.97, 0.98, 0.98, 1.0], abs=1e-12)
    assert metrics["accuracy"] == pytest.approx(1 - 7 / 400, abs=1e-12)
    assert metrics["unscored_pairs"] == 7


def test_all_unscored_different_pairs_cannot_be_passed() -> None:
    same = np.r_[np.ones(10, bool), np.zeros(10, bool)]
    similarity = np.r_[np.linspace(0.5, 1.0, 10), np.full(10, np.nan)]
    metrics = verification_metrics(similarity, same, np.zeros(20, int))
    assert metrics["accuracy"] == 0.5
    assert metrics["far_at_far_0.001"] == 1.0


def test_val_at_far_holds_target_on_held_out_folds() -> None:
    # Impostors ~ N(0, 1), genuine ~ N(2, 1): at FAR 1e-3 the true threshold is 3.09 and
    # the true VAL is 1 - Phi(1.09) = 0.138; at FAR 1e-2 it is 1 - Phi(0.326) = 0.372.
    similarity, same, folds = gaussian_pairs(seed=3, folds=10, per_class=20_000, genuine_mean=2.0)
    strict = verification_metrics(similarity, same, folds, far_target=1e-3)
    loose = verification_metrics(similarity, same, folds, far_target=1e-2)
    # 200,000 held-out impostor pairs at FAR 1e-3 give about 200 false accepts (Poisson
    # sd 7 %), and each threshold is a 1e-3 quantile of 180,000 training impostors (about
    # 7.5 % sd in the FAR it yields): about 10 % relative sd together, so 30 % is 3 sd.
    assert strict["far_at_far_0.001"] == pytest.approx(1e-3, rel=0.3)
    assert loose["far_at_far_0.01"] == pytest.approx(1e-2, rel=0.1)  # 10x the counts
    assert strict["val_at_far_0.001"] == pytest.approx(0.138, abs=0.02)
    assert loose["val_at_far_0.01"] == pytest.approx(0.372, abs=0.02)
    assert loose["val_at_far_0.01"] >= strict["val_at_far_0.001"]


def test_far_threshold_is_interpolated_between_scores() -> None:
    # Fold 0 trains fold 1: impostor FAR is 0.5 at 0.3 and 0.25 at 0.4, so FAR 0.3 falls
    # 80 % of the way: threshold 0.38. Fold 1's genuine 0.385 and impostor 0.39 pass it
    # (VAL 1, FAR 0.25), though both would fail the nearest score 0.4. Fold 1 trains fold 0:
    # FAR is 0.5 at 0.25 and 0.25 at 0.385, threshold 0.358; fold 0's 0.9 and 0.4 pass.
    similarity = np.array([0.9, 0.1, 0.2, 0.3, 0.4, 0.385, 0.05, 0.15, 0.25, 0.39])
    same = np.array([True, False, False, False, False] * 2)
    metrics = verification_metrics(similarity, same, np.repeat([0, 1], 5), far_target=0.3)
    assert metrics["val_at_far_0.3"] == pytest.approx(1.0)
    assert metrics["far_at_far_0.3"] == pytest.approx(0.25)


def test_roc_curve_counts_unscored_pairs_against_the_model() -> None:
    similarity = np.array([0.9, 0.8, 0.7, np.nan, np.nan])
    same = np.array([True, False, True, False, True])
    far, tar, thresholds = roc_curve(similarity, same)
    np.testing.assert_array_equal(thresholds, [0.9, 0.8, 0.7])
    np.testing.assert_allclose(far, [0.5, 1.0, 1.0])  # the unscored different pair: accepted
    np.testing.assert_allclose(tar, [1 / 3, 1 / 3, 2 / 3])  # the unscored same pair: rejected
