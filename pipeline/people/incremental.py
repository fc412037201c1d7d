"""Clusterings that carry over from run to run: a full recluster keeps the ids of the clusters it
overlaps, and an incremental run places new faces into the earlier clusters without renumbering them."""

from __future__ import annotations

import faiss
import numpy as np

from pipeline.people.cluster_settings import ClusterSettings
from pipeline.people.clustering import NOISE, Clustering, centroid_similarity, cluster_faces
from pipeline.people.linkage import MergeRule
from pipeline.runtime.tasks import Tasks
from pipeline.search.index_settings import IndexSettings

NEW = -2  # in ``previous`` label arrays: a face the last clustering did not see


def carry_cluster_ids(labels: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Renumber a fresh clustering so that each cluster keeps the id of the earlier cluster it overlaps
    most (greedy by overlap, each earlier id used once); the others get ids above every earlier one."""
    labels = labels.copy()
    known = (labels >= 0) & (previous >= 0)
    pairs, overlap = np.unique(np.stack([labels[known], previous[known]]), axis=1, return_counts=True)
    taken_new, taken_old, mapping = set(), set(), {}
    for index in np.argsort(-overlap, kind="stable"):
        new, old = int(pairs[0, index]), int(pairs[1, index])
        if new not in taken_new and old not in taken_old:
            mapping[new] = old
            taken_new.add(new)
            taken_old.add(old)
    next_id = int(max(previous.max(initial=-1), -1)) + 1
    for new in np.unique(labels[labels >= 0]):
        if int(new) not in mapping:
            mapping[int(new)] = next_id
            next_id += 1
    return np.array([mapping[int(v)] if v >= 0 else NOISE for v in labels], np.int64)


def assign_incrementally(
    vectors: np.ndarray,
    image_ids: np.ndarray,
    previous: np.ndarray,
    settings: ClusterSettings,
    rule: MergeRule,
    index: IndexSettings | None = None,
    tasks: Tasks | None = None,
) -> Clustering:
    """Extend an earlier clustering (``previous``: its cluster id per face, NOISE, or NEW) without
    renumbering it, by the earlier clustering's merge ``rule``: a new face joins the cluster, among
    those of its nearest clustered faces, whose faces it resembles most on average, when that mean
    similarity passes the rule (never a cluster holding a face of its photo). New faces left over and
    earlier noise are then clustered among themselves by the same rule; a group whose mean
    similarity to an earlier cluster passes it joins that cluster, the others of
    ``min_cluster_size`` become new clusters."""
    vectors = np.ascontiguousarray(vectors, np.float32)
    labels = np.where(previous == NEW, NOISE, previous).astype(np.int64)
    sums: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}
    photos_in: set[tuple[int, str]] = set()
    for i in np.flatnonzero(labels >= 0):
        sums[int(labels[i])] = sums.get(int(labels[i]), 0) + vectors[i].astype(np.float64)
        counts[int(labels[i])] = counts.get(int(labels[i]), 0) + 1
        photos_in.add((int(labels[i]), str(image_ids[i])))

    def best_cluster(direction: np.ndarray, size: int, candidates, photos: set[str]) -> int | None:
        """The candidate with the highest mean similarity to ``size`` faces summing to ``direction``."""
        scored = [
            (float(direction @ sums[c]) / (size * counts[c]), c)
            for c in candidates
            if not (settings.cannot_link and any((c, p) in photos_in for p in photos))
        ]
        score, cluster = max(scored, default=(-np.inf, None))
        return cluster if cluster is not None and score >= rule.threshold(size, counts[cluster]) else None

    def join(members: np.ndarray, cluster: int) -> None:
        labels[members] = cluster
        sums[cluster] = sums[cluster] + vectors[members].astype(np.float64).sum(axis=0)
        counts[cluster] += len(members)
        photos_in.update((cluster, str(image_ids[m])) for m in members)

    clustered = np.flatnonzero(labels >= 0)
    if len(clustered):
        reference = faiss.IndexFlatIP(vectors.shape[1])
        reference.add(vectors[clustered])
        fresh = np.flatnonzero(previous == NEW)
        _, positions = reference.search(vectors[fresh], min(settings.neighbours, len(clustered)))
        for face, rows in zip(fresh, positions):
            candidates = {int(labels[clustered[r]]) for r in rows if r >= 0}
            cluster = best_cluster(vectors[face].astype(np.float64), 1, candidates, {str(image_ids[face])})
            if cluster is not None:
                join(np.array([face]), cluster)
    loose = np.flatnonzero(labels == NOISE)
    if len(loose) >= max(2, settings.min_cluster_size):
        grouped = cluster_faces(vectors[loose], image_ids[loose], settings, index, tasks, rule).labels
        next_id = int(max(labels.max(initial=-1), previous.max(initial=-1))) + 1
        for group in np.unique(grouped[grouped >= 0]):
            members = loose[grouped == group]
            _, positions = (
                reference.search(vectors[members], 1) if len(clustered) else (None, np.full((len(members), 1), -1))
            )
            candidates = {int(labels[clustered[r]]) for r in positions[:, 0] if r >= 0}
            direction = vectors[members].astype(np.float64).sum(axis=0)
            cluster = best_cluster(direction, len(members), candidates, {str(image_ids[m]) for m in members})
            if cluster is None:
                cluster, next_id = next_id, next_id + 1
                sums[cluster], counts[cluster] = np.zeros(vectors.shape[1]), 0
            join(members, cluster)
    return Clustering(labels, centroid_similarity(vectors, labels))
