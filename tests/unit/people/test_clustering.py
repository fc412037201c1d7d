"""Clustering methods on seeded synthetic identities: cannot-link, renumbering, noise."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.metrics.clustering import clustering_metrics
from pipeline.people.cluster_settings import ClusterSettings
from pipeline.people.clustering import cluster_faces, finish, separate_same_photo


@pytest.mark.parametrize("method", ["graph", "hdbscan", "kmeans"])
def test_every_method_finds_the_identities(faces, method: str) -> None:
    vectors, truth = faces
    clustering = cluster_faces(vectors, np.arange(len(vectors)).astype(str), ClusterSettings(method=method))
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
    labels = cluster_faces(vectors, photos, ClusterSettings()).labels
    assert labels[members[0]] != labels[members[1]] or labels[members[0]] == -1
    loose = cluster_faces(vectors, photos, ClusterSettings(cannot_link=False)).labels
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
