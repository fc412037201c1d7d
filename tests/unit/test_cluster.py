"""Clustering methods, cannot-link and metrics on seeded face-like vectors, against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage

from pipeline.cluster import NEW, assign_incrementally, cluster_faces, finish, separate_same_photo, stable_ids
from pipeline.knn_graph import best_others, even_ranges, graph_index, knn_graph, nearest_in
from pipeline.linkage import average_linkage, join_groups, linkage_groups, undirected_edges
from pipeline.cluster_metrics import clustering_metrics
from pipeline.config import ClusterConfig
from pipeline.synthetic import face_like_embeddings


@pytest.fixture(scope="module")
def faces():
    data = face_like_embeddings(40, faces_per_identity=(2, 30), noise_faces=30, seed=9)
    return data.vectors, np.where(data.labels >= 0, data.labels, -1 - np.arange(len(data.labels)))


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


@pytest.mark.parametrize("method", ["graph", "hdbscan", "kmeans"])
def test_every_method_finds_the_identities(faces, method: str) -> None:
    vectors, truth = faces
    clustering = cluster_faces(vectors, np.arange(len(vectors)).astype(str), ClusterConfig(method=method))
    metrics = clustering_metrics(clustering.labels, truth)
    assert metrics["bcubed_f"] > (0.95 if method != "kmeans" else 0.8), metrics
    clustered = clustering.labels >= 0
    assert clustering.labels.min() >= -1 and np.all(np.abs(clustering.confidence) <= 1.0001)
    assert clustering.confidence[clustered & (truth >= 0)].mean() > 0.7, "faces sit near their cluster's mean"


def test_faces_of_one_photo_never_share_a_cluster(faces) -> None:
    vectors, truth = faces
    person = truth[truth >= 0][0]
    members = np.flatnonzero(truth == person)
    photos = np.arange(len(vectors)).astype(str)
    photos[members[1]] = photos[members[0]]  # two faces of the same person in one photo (a mirror, a poster)
    labels = cluster_faces(vectors, photos, ClusterConfig()).labels
    assert labels[members[0]] != labels[members[1]] or labels[members[0]] == -1
    loose = cluster_faces(vectors, photos, ClusterConfig(cannot_link=False)).labels
    assert loose[members[0]] == loose[members[1]] >= 0


def test_cannot_link_keeps_the_most_central_face() -> None:
    vectors = np.array([[1, 0], [0.9, 0.1], [0.6, 0.8]], np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = separate_same_photo(vectors, np.array([0, 0, 0]), np.array(["a", "b", "b"]))
    assert labels.tolist() == [0, 0, -1]


def test_finish_renumbers_by_size_and_drops_small_clusters() -> None:
    vectors = np.eye(4, dtype=np.float32)[[0, 1, 1, 2, 2, 2, 3]]
    clustering = finish(vectors, np.array([7, 3, 3, 5, 5, 5, -1]), min_size=2)
    assert clustering.labels.tolist() == [-1, 1, 1, 0, 0, 0, -1]
    assert clustering.clusters == 2 and np.allclose(clustering.confidence[1:6], 1.0)


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


def test_a_full_recluster_keeps_the_ids_of_the_clusters_it_overlaps() -> None:
    previous = np.array([5, 5, 5, 2, 2, -1, NEW, NEW])
    fresh = np.array([0, 0, 0, 1, 1, 1, 2, 2])  # cluster 1 took the noise face, cluster 2 is new
    assert stable_ids(fresh, previous).tolist() == [5, 5, 5, 2, 2, 2, 6, 6]
    split = np.array([0, 0, 3, 1, 1, -1, -1, -1])  # earlier cluster 5 split in two: the larger half keeps 5
    assert stable_ids(split, previous).tolist() == [5, 5, 6, 2, 2, -1, -1, -1]


def test_incremental_runs_place_new_faces_without_renumbering(faces) -> None:
    vectors, truth = faces
    photos = np.arange(len(vectors)).astype(str)
    first = np.random.default_rng(2).random(len(vectors)) < 0.5
    config = ClusterConfig()
    before = cluster_faces(vectors[first], photos[first], config).labels
    previous = np.full(len(vectors), NEW)
    previous[first] = before
    after = assign_incrementally(vectors, photos, previous, config).labels
    assert np.array_equal(after[first & (previous >= 0)], previous[first & (previous >= 0)]), (
        "earlier faces kept their ids"
    )
    full = cluster_faces(vectors, photos, config).labels
    assert clustering_metrics(after, truth)["bcubed_f"] >= clustering_metrics(full, truth)["bcubed_f"] - 0.01
    joined = ~first & (after >= 0) & np.isin(after, before)
    assert joined.sum() > 0.3 * (~first).sum(), "new faces of known people join their clusters"


def test_incremental_never_puts_a_new_face_beside_a_face_of_its_photo(faces) -> None:
    vectors, truth = faces
    person = np.flatnonzero(truth == truth[truth >= 0][0])
    photos = np.arange(len(vectors)).astype(str)
    photos[person[1]] = photos[person[0]]
    previous = np.full(len(vectors), NEW)
    previous[person[0]], previous[person[2:]] = 0, 0
    after = assign_incrementally(vectors, photos, previous, ClusterConfig()).labels
    assert after[person[1]] != 0
