"""Average linkage along sparse graphs: the mean of all pairs (SciPy's full linkage), whole or split
by components, and the merge rule that falls with group size."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage

from pipeline.metrics.clustering import clustering_metrics
from pipeline.people.cluster_settings import ClusterSettings
from pipeline.people.clustering import cluster_faces
from pipeline.people.linkage import MergeRule, average_linkage, join_groups, linkage_groups, undirected_edges
from pipeline.search.knn_graph import knn_graph

RULE = MergeRule(single=0.5, group=0.35)


def test_linkage_split_by_components_equals_one_linkage(faces) -> None:
    vectors, _ = faces
    a, b, similarities = undirected_edges(*knn_graph(vectors, 10))
    candidates = similarities >= RULE.group
    whole = average_linkage(a[candidates], b[candidates], vectors, RULE)
    groups = linkage_groups(a, b, similarities, vectors, RULE, groups=4)
    split = join_groups(len(vectors), groups, [average_linkage(g.a, g.b, g.vectors, RULE) for g in groups])
    assert len(groups) == 4 and np.unique(np.stack([whole, split]), axis=1).shape[1] == len(np.unique(whole)) == len(
        np.unique(split)
    )
    assert len(np.unique(whole)) < len(vectors) / 3, "there are clusters to find"


def test_graph_method_with_every_edge_equals_full_average_linkage(faces) -> None:
    vectors, _ = faces
    config = ClusterSettings(similarity=0.45, neighbours=len(vectors) - 1, min_cluster_size=1, cannot_link=False)
    ours = cluster_faces(vectors, np.arange(len(vectors)).astype(str), config).labels
    reference = fcluster(
        linkage(vectors, method="average", metric="cosine"), t=1 - config.similarity, criterion="distance"
    )
    assert clustering_metrics(ours, reference)["bcubed_f"] == pytest.approx(1.0)


def test_two_people_alike_in_a_few_pairs_stay_apart() -> None:
    # the kNN graph keeps each face's most similar faces: between two people only their most alike
    # pairs; their mean must not stand for the mean of all pairs (which is what average linkage means)
    rng = np.random.default_rng(3)
    directions = np.linalg.qr(rng.standard_normal((16, 16)))[0][:2]  # two orthogonal people
    faces = np.repeat(directions, 20, axis=0) + 0.05 * rng.standard_normal((40, 16))
    faces[19] = faces[20] = directions.sum(axis=0)  # one face of each looks like both
    faces /= np.linalg.norm(faces, axis=1, keepdims=True)
    a, b, similarities = undirected_edges(*knn_graph(faces.astype(np.float32), 5))
    across = (a < 20) != (b < 20)
    assert similarities[across].mean() > 0.6, "the graph's edges between the two people look alike"
    labels = average_linkage(a, b, faces.astype(np.float32), MergeRule(0.3, 0.3))
    assert len(np.unique(labels[:19])) == 1 and len(np.unique(labels[21:])) == 1
    assert labels[0] != labels[39], "the mean of all their pairs (about 0) keeps the two people apart"


def test_the_merge_threshold_falls_with_group_size() -> None:
    sizes = np.array([1, 2, 4, 16, 100, 10_000])
    thresholds = RULE.threshold(sizes, sizes)
    assert thresholds[0] == pytest.approx(RULE.single)
    assert np.all(np.diff(thresholds) < 0) and thresholds[-1] == pytest.approx(RULE.group, abs=2e-3)
