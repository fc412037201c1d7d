"""Face verification scored over labelled pairs: k-fold accuracy, VAL at a false-accept rate,
thresholds at a target FAR, ROC; and open-set identification (DIR at a false-alarm rate)."""

from __future__ import annotations

import numpy as np

# Decision rule everywhere in this module: a pair is accepted as "same person" when
# similarity >= threshold. An unscored pair (NaN similarity) is never accepted, and it is
# counted as wrong whatever the threshold: a missed same pair or a false-accepted different pair.


def _accepted_counts(similarity: np.ndarray, same: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per threshold: number of same pairs accepted, number of different pairs accepted
    (unscored different pairs always count as accepted)."""
    scored = ~np.isnan(similarity)
    same_sorted = np.sort(similarity[scored & same])
    different_sorted = np.sort(similarity[scored & ~same])
    true_accepts = same_sorted.size - np.searchsorted(same_sorted, thresholds, side="left")
    false_accepts = (
        different_sorted.size
        - np.searchsorted(different_sorted, thresholds, side="left")
        + np.count_nonzero(~scored & ~same)
    )
    return true_accepts, false_accepts


def _best_accuracy_threshold(similarity: np.ndarray, same: np.ndarray) -> float:
    """Threshold with the most correct decisions. Candidates are the midpoints between
    consecutive unique scores plus one that accepts all and one that rejects all, so every
    distinct split is tried once; ties go to the lowest threshold."""
    unique = np.unique(similarity[~np.isnan(similarity)])
    if unique.size == 0:
        raise ValueError("no scored pair to choose a threshold on")
    candidates = np.concatenate([unique[:1], (unique[:-1] + unique[1:]) / 2, [np.nextafter(unique[-1], np.inf)]])
    true_accepts, false_accepts = _accepted_counts(similarity, same, candidates)
    true_rejects = np.count_nonzero(~same) - false_accepts
    return float(candidates[np.argmax(true_accepts + true_rejects)])


def far_threshold(similarity: np.ndarray, same: np.ndarray, far_target: float) -> float:
    """Threshold whose false-accept rate is far_target, interpolated linearly between the
    unique scores around it as FaceNet's calculate_val does; the lowest score with
    FAR <= far_target when none is bracketed; rejects every score when none gets that low."""
    unique = np.unique(similarity[~np.isnan(similarity)])
    if unique.size == 0:
        raise ValueError("no scored pair to choose a threshold on")
    _, false_accepts = _accepted_counts(similarity, same, unique)
    far = false_accepts / max(np.count_nonzero(~same), 1)  # non-increasing along unique
    low_enough = np.flatnonzero(far <= far_target)
    if low_enough.size == 0:
        return float(np.nextafter(unique[-1], np.inf))
    j = low_enough[0]
    if j == 0 or far[j] == far_target:
        return float(unique[j])
    fraction = (far[j - 1] - far_target) / (far[j - 1] - far[j])
    return float(unique[j - 1] + fraction * (unique[j] - unique[j - 1]))


def decision_rates(similarity: np.ndarray, same: np.ndarray, threshold: float) -> tuple[float, float, float]:
    """(accuracy, true-accept rate, false-accept rate) at one threshold."""
    true_accepts, false_accepts = _accepted_counts(similarity, same, np.array([threshold]))
    num_same, num_different = np.count_nonzero(same), np.count_nonzero(~same)
    correct = true_accepts[0] + num_different - false_accepts[0]
    return (
        float(correct / same.size),
        float(true_accepts[0] / max(num_same, 1)),
        float(false_accepts[0] / max(num_different, 1)),
    )


def verification_metrics(similarity: np.ndarray, same: np.ndarray, folds: np.ndarray, far_target: float = 1e-3) -> dict:
    """Cross-validated verification results for per-pair similarity (NaN = unscored),
    ground truth ``same`` and fold ids: each fold is tested with thresholds chosen on the
    other folds (on itself when there is a single fold). Returns a JSON-ready dict with
    accuracy, accuracy_std, threshold (mean accuracy threshold), val_at_far_{far_target:g},
    far_at_far_{far_target:g} (measured held-out FAR), pairs, unscored_pairs, fold_accuracies."""
    similarity = np.asarray(similarity, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    folds = np.asarray(folds)
    if not similarity.shape == same.shape == folds.shape or similarity.ndim != 1:
        raise ValueError(
            f"similarity, same and folds must be 1-D of one length, got shapes "
            f"{similarity.shape}, {same.shape}, {folds.shape}"
        )
    fold_ids = np.unique(folds)
    accuracies, thresholds, vals, fars = [], [], [], []
    for fold in fold_ids:
        test = folds == fold
        train = ~test if fold_ids.size > 1 else test
        threshold = _best_accuracy_threshold(similarity[train], same[train])
        accuracies.append(decision_rates(similarity[test], same[test], threshold)[0])
        thresholds.append(threshold)
        at_far = far_threshold(similarity[train], same[train], far_target)
        _, val, far = decision_rates(similarity[test], same[test], at_far)
        vals.append(val)
        fars.append(far)
    return {
        "accuracy": float(np.mean(accuracies)),
        "accuracy_std": float(np.std(accuracies)),
        "threshold": float(np.mean(thresholds)),
        f"val_at_far_{far_target:g}": float(np.mean(vals)),
        f"far_at_far_{far_target:g}": float(np.mean(fars)),
        "pairs": int(similarity.size),
        "unscored_pairs": int(np.count_nonzero(np.isnan(similarity))),
        "fold_accuracies": [float(a) for a in accuracies],
    }


def roc_curve(similarity: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(far, tar, thresholds) at every unique scored similarity, thresholds descending.
    Unscored pairs count against the model: never accepted when same, always when different."""
    similarity = np.asarray(similarity, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    thresholds = np.unique(similarity[~np.isnan(similarity)])[::-1]
    true_accepts, false_accepts = _accepted_counts(similarity, same, thresholds)
    far = false_accepts / max(np.count_nonzero(~same), 1)
    tar = true_accepts / max(np.count_nonzero(same), 1)
    return far, tar, thresholds


def open_set_metrics(
    genuine_scores: np.ndarray,
    genuine_correct: np.ndarray,
    impostor_scores: np.ndarray,
    fars: tuple[float, ...] = (1e-2, 1e-3),
) -> dict:
    """Open-set identification figures from each probe's best gallery similarity.

    ``genuine_scores`` / ``genuine_correct``: probes of enrolled people, their top-1 similarity and
    whether the top-1 is their own identity; ``impostor_scores``: top-1 similarity of probes of people
    never enrolled. The threshold at false-alarm rate f lets a fraction f of impostors through;
    DIR@f is the fraction of genuine probes identified correctly at or above it. rank1 ignores the
    threshold (closed-set accuracy)."""
    metrics: dict = {
        "rank1": float(np.mean(genuine_correct)) if len(genuine_correct) else 0.0,
        "genuine_probes": int(len(genuine_scores)),
        "impostor_probes": int(len(impostor_scores)),
    }
    ordered = np.sort(impostor_scores)[::-1]
    for far in fars:
        allowed = int(np.floor(far * len(ordered)))  # impostors that may pass
        threshold = float(np.nextafter(ordered[allowed], np.inf)) if allowed < len(ordered) else float(-np.inf)
        metrics[f"dir_at_far_{far:g}"] = float(np.mean(genuine_correct & (genuine_scores >= threshold)))
        metrics[f"threshold_at_far_{far:g}"] = threshold
        metrics[f"measured_far_{far:g}"] = float(np.mean(impostor_scores >= threshold)) if len(impostor_scores) else 0.0
    return metrics
