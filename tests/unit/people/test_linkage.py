"""Average linkage along sparse graphs against SciPy's full linkage, whole or split by components."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage

from pipeline.config import ClusterConfig
from pipeline.metrics.clustering import clustering_metrics
from pipeline.people.clustering import cluster_faces
from pipeline.people.linkage import average_linkage, join_groups, linkage_groups, undirected_edges
from pipeline.search.knn_graph import knn_graph


def test_linkage_split_by_components_equals_one_linkage(faces) -> None:
    vectors, _ = faces
    a, b, similarities = undirected_edges(*knn_graph(vectors, 10))
    whole = average_linkage(a, b, similarities, len(vectors), 0.45)
    groups = linkage_groups(a, b, similarities, len(vectors), 0.45, groups=4)
    split = join_groups(
        len(vectors), groups, [average_linkage(g.a, g.b, g.similarities, len(g.nodes), 0.45) for g in groups]
    )
    assert len(groups) == 4 and np.unique(np.stack([whole, split]), axis=1).shape[1] == len(np.unique(whole)) == len(
        np.unique(split)
    )
    assert len(np.unique(whole)) < len(vectors) / 3, "there are clusters to find"
    weakest = min(g.similarities.min() for g in groups)
    assert weakest < 0.45, "groups keep their components' weak edges: they count in the means"


def test_graph_method_with_every_edge_equals_full_average_linkage(faces) -> None:
    vectors, _ = faces
    config = ClusterConfig(neighbours=len(vectors) - 1, min_cluster_size=1, cannot_link=False)
    ours = cluster_faces(vectors, np.arange(len(vectors)).astype(str), config).labels
    reference = fcluster(
        linkage(vectors, method="average", metric="cosine"), t=1 - config.similarity, criterion="distance"
    )
    assert clustering_metrics(ours, reference)["bcubed_f"] == pytest.approx(1.0)
