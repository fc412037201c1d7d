"""kNN graphs against brute force, from one index or from shards."""

from __future__ import annotations

import numpy as np

from pipeline.search.index_settings import IndexSettings
from pipeline.search.knn_graph import best_others, even_ranges, graph_index, graph_kind, knn_graph, nearest_in


def test_knn_graph_equals_brute_force_without_self(faces) -> None:
    vectors, _ = faces
    similarities, neighbours = knn_graph(vectors, 5)
    brute = vectors @ vectors.T
    np.fill_diagonal(brute, -np.inf)
    expected = np.argsort(-brute, axis=1)[:, :5]
    assert np.array_equal(neighbours, expected)
    np.testing.assert_allclose(similarities, np.take_along_axis(brute, expected, 1), atol=1e-5)


def test_graph_from_index_shards_equals_one_index(faces) -> None:
    vectors, _ = faces
    shards = [graph_index(vectors[a:b], 8, first=a) for a, b in even_ranges(len(vectors), 3)]
    found = [nearest_in(shard, vectors[100:300], 9) for shard in shards]
    similarities, neighbours = best_others([f[0] for f in found], [f[1] for f in found], np.arange(100, 300), 8)
    one = knn_graph(vectors, 8)
    assert np.array_equal(neighbours, one[1][100:300])
    np.testing.assert_allclose(similarities, one[0][100:300], atol=1e-5)


def test_graphs_of_over_50k_faces_take_hnsw_while_it_fits() -> None:
    auto = IndexSettings()
    assert graph_kind(10_000, 128, auto) == "auto"  # exact search
    assert graph_kind(1_000_000, 128, auto) == "hnsw"  # where search alone would take IVF with fast-scan codes
    assert graph_kind(1_000_000, 128, IndexSettings(memory_budget=600 * 1024**2)) == "auto"  # no room for the graph
    assert graph_kind(1_000_000, 128, IndexSettings(kind="ivf_flat")) == "ivf_flat"
    assert graph_kind(30_000_000, 128, IndexSettings(memory_budget=64 * 1024**3)) == "auto"  # an HNSW build of hours
