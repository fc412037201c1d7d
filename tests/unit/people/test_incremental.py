"""Stable ids across reclusters and incremental placement of new faces."""

from __future__ import annotations

import numpy as np

from pipeline.metrics.clustering import clustering_metrics
from pipeline.people.calibration import rule_from
from pipeline.people.cluster_settings import ClusterSettings
from pipeline.people.clustering import cluster_faces
from pipeline.people.incremental import NEW, assign_incrementally, carry_cluster_ids
from pipeline.people.linkage import MergeRule


def test_a_full_recluster_keeps_the_ids_of_the_clusters_it_overlaps() -> None:
    previous = np.array([5, 5, 5, 2, 2, -1, NEW, NEW])
    fresh = np.array([0, 0, 0, 1, 1, 1, 2, 2])  # cluster 1 took the noise face, cluster 2 is new
    assert carry_cluster_ids(fresh, previous).tolist() == [5, 5, 5, 2, 2, 2, 6, 6]
    split = np.array([0, 0, 3, 1, 1, -1, -1, -1])  # earlier cluster 5 split in two: the larger half keeps 5
    assert carry_cluster_ids(split, previous).tolist() == [5, 5, 6, 2, 2, -1, -1, -1]


def test_incremental_runs_place_new_faces_without_renumbering(faces) -> None:
    vectors, truth = faces
    photos = np.arange(len(vectors)).astype(str)
    first = np.random.default_rng(2).random(len(vectors)) < 0.5
    config = ClusterSettings()
    earlier = cluster_faces(vectors[first], photos[first], config)
    before = earlier.labels
    previous = np.full(len(vectors), NEW)
    previous[first] = before
    after = assign_incrementally(vectors, photos, previous, config, rule_from(earlier.merge_rule)).labels
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
    after = assign_incrementally(vectors, photos, previous, ClusterSettings(), MergeRule(0.3, 0.3)).labels
    assert after[person[1]] != 0
