"""Clustering metrics against counting every pair and item."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pipeline.metrics.clustering import clustering_metrics


def _brute_force_metrics(clusters: np.ndarray, labels: np.ndarray) -> dict:
    clusters = np.where(clusters == -1, -1000 - np.arange(len(clusters)), clusters)  # noise: singletons
    pairs = list(itertools.combinations(range(len(labels)), 2))
    same_cluster = np.array([clusters[i] == clusters[j] for i, j in pairs])
    same_label = np.array([labels[i] == labels[j] for i, j in pairs])
    precision = [np.mean(labels[clusters == clusters[i]] == labels[i]) for i in range(len(labels))]
    recall = [np.mean(clusters[labels == labels[i]] == clusters[i]) for i in range(len(labels))]
    return {
        "pairwise_precision": (same_cluster & same_label).sum() / same_cluster.sum(),
        "pairwise_recall": (same_cluster & same_label).sum() / same_label.sum(),
        "bcubed_precision": np.mean(precision),
        "bcubed_recall": np.mean(recall),
    }


def test_metrics_equal_counting_every_pair_and_item() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 8, 120)
    clusters = np.where(rng.random(120) < 0.8, labels, rng.integers(-1, 10, 120))
    ours = clustering_metrics(clusters, labels)
    for key, value in _brute_force_metrics(clusters, labels).items():
        assert ours[key] == pytest.approx(value), key
    perfect = clustering_metrics(labels, labels)
    assert perfect["bcubed_f"] == perfect["pairwise_f"] == pytest.approx(1.0) and perfect["nmi"] == pytest.approx(1.0)
