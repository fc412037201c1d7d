"""How well clusters match true identities: pairwise and BCubed precision / recall / F, and NMI.

All computed from the contingency table in O(n) memory. A noise item (cluster id -1) counts as a
cluster of its own, as a person would see it: a face in no group.
"""

from __future__ import annotations

import numpy as np

from pipeline.schema import NOISE_CLUSTER as NOISE


def _codes(values: np.ndarray) -> np.ndarray:
    return np.unique(values, return_inverse=True)[1]


def _with_noise_as_singletons(clusters: np.ndarray) -> np.ndarray:
    clusters = np.asarray(clusters).astype(np.int64).copy()
    noise = clusters == NOISE
    clusters[noise] = clusters.max(initial=0) + 1 + np.arange(noise.sum())
    return clusters


def _pairs(counts: np.ndarray) -> float:
    return float(np.sum(counts * (counts - 1) / 2))


def clustering_metrics(clusters: np.ndarray, labels: np.ndarray) -> dict:
    """Scores of ``clusters`` (ids, -1 for noise) against true ``labels`` (any hashable ids)."""
    if len(clusters) != len(labels):
        raise ValueError(f"{len(clusters)} cluster ids for {len(labels)} labels")
    n = len(labels)
    if n == 0:
        raise ValueError("nothing to score")
    predicted = _codes(_with_noise_as_singletons(clusters))
    truth = _codes(np.asarray(labels))
    joint = predicted.astype(np.int64) * (truth.max() + 1) + truth
    cell_ids, cells = np.unique(joint, return_counts=True)
    cell_cluster, cell_label = cell_ids // (truth.max() + 1), cell_ids % (truth.max() + 1)
    cluster_sizes, label_sizes = np.bincount(predicted), np.bincount(truth)

    true_positive = _pairs(cells)
    predicted_pairs, true_pairs = _pairs(cluster_sizes), _pairs(label_sizes)
    pairwise_precision = true_positive / predicted_pairs if predicted_pairs else 1.0
    pairwise_recall = true_positive / true_pairs if true_pairs else 1.0

    bcubed_precision = float(np.sum(cells**2 / cluster_sizes[cell_cluster]) / n)
    bcubed_recall = float(np.sum(cells**2 / label_sizes[cell_label]) / n)

    p_cell, p_cluster, p_label = cells / n, cluster_sizes / n, label_sizes / n
    mutual = float(np.sum(p_cell * np.log(p_cell / (p_cluster[cell_cluster] * p_label[cell_label]))))
    entropy = lambda p: float(-np.sum(p[p > 0] * np.log(p[p > 0])))
    denominator = (entropy(p_cluster) + entropy(p_label)) / 2
    nmi = mutual / denominator if denominator > 0 else 1.0

    f = lambda p, r: 2 * p * r / (p + r) if p + r else 0.0
    return {
        "pairwise_precision": pairwise_precision,
        "pairwise_recall": pairwise_recall,
        "pairwise_f": f(pairwise_precision, pairwise_recall),
        "bcubed_precision": bcubed_precision,
        "bcubed_recall": bcubed_recall,
        "bcubed_f": f(bcubed_precision, bcubed_recall),
        "nmi": nmi,
        "clusters": int(len(np.unique(np.asarray(clusters)[np.asarray(clusters) != NOISE]))),
        "noise_fraction": float(np.mean(np.asarray(clusters) == NOISE)),
        "items": n,
    }
