"""Identity clustering of face embeddings, without an n x n matrix.

Methods (chosen from measured results on LFW, see the README):
- graph (default): a kNN graph from a FAISS index (``knn_graph``), then average linkage constrained to the graph's
  edges (``average_linkage``, by reciprocal best-neighbour rounds): two groups merge
  while the mean similarity between their faces stays at or above ``cluster.similarity``. Average
  linkage resists the chaining that single-linkage schemes (DBSCAN, connected components) suffer
  between look-alikes. With ``cluster.distributed`` both steps run as Ray tasks (``graph.graph_labels_on_ray``).
- hdbscan: the hdbscan package on the unit vectors (Euclidean distance, monotone in cosine).
- kmeans: FAISS k-means on the unit vectors, k given or estimated by the graph method.
Then: faces of one photo are split apart (cannot-link), clusters below ``min_cluster_size`` become
noise (-1), ids are renumbered largest first, and each face gets a confidence (cosine to its
cluster's mean direction).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import faiss
import numpy as np

from pipeline import schema as S
from pipeline.config import ClusterConfig, IndexConfig
from pipeline.graph import graph_labels_on_ray
from pipeline.knn_graph import knn_graph
from pipeline.linkage import graph_average_linkage

log = logging.getLogger(__name__)

NOISE = S.NOISE_CLUSTER


@dataclass(frozen=True)
class Clustering:
    """Cluster id per face (NOISE for none, 0 = the largest cluster) and its confidence."""

    labels: np.ndarray
    confidence: np.ndarray

    @property
    def ids(self) -> np.ndarray:
        """The cluster ids in use, ascending."""
        return np.unique(self.labels[self.labels >= 0])

    @property
    def clusters(self) -> int:
        return len(self.ids)


GRAPH_RECALL_MARGIN = (
    0.1  # recall is tuned over neighbours this far below the merge threshold (at 0.2: twice the time, same F)
)


def hdbscan_labels(vectors: np.ndarray, min_cluster_size: int, min_samples: int) -> np.ndarray:
    import hdbscan

    return hdbscan.HDBSCAN(min_cluster_size=max(2, min_cluster_size), min_samples=min_samples).fit_predict(vectors)


def kmeans_labels(vectors: np.ndarray, k: int, seed: int) -> np.ndarray:
    """FAISS spherical k-means (on the GPUs when FAISS sees any)."""
    kmeans = faiss.Kmeans(
        vectors.shape[1],
        min(k, len(vectors)),
        niter=20,
        seed=seed,
        spherical=True,
        gpu=faiss.get_num_gpus() > 0,
        max_points_per_centroid=1_000_000,
    )
    kmeans.train(vectors)
    return kmeans.index.search(vectors, 1)[1][:, 0]


def _centroids(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    sums = np.zeros((labels.max(initial=-1) + 1, vectors.shape[1]), np.float64)
    kept = labels >= 0
    np.add.at(sums, labels[kept], vectors[kept])
    return (sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def _confidence(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cosine of each clustered face to its cluster's mean direction (0 for noise)."""
    if not np.any(labels >= 0):
        return np.zeros(len(labels), np.float32)
    centroids = _centroids(vectors, labels)
    return np.where(labels >= 0, np.einsum("ij,ij->i", vectors, centroids[np.maximum(labels, 0)]), 0.0).astype(
        np.float32
    )


def separate_same_photo(vectors: np.ndarray, labels: np.ndarray, image_ids: np.ndarray) -> np.ndarray:
    """Cannot-link: where faces of one photo share a cluster, only the one nearest the cluster's mean
    direction stays; the others become noise."""
    labels = labels.copy()
    score = np.where(labels >= 0, _confidence(vectors, labels), -np.inf)
    order = np.lexsort((-score, image_ids, labels))  # per (cluster, photo), the best first
    ranked_labels, ranked_images = labels[order], image_ids[order]
    repeat = np.r_[False, (ranked_labels[1:] == ranked_labels[:-1]) & (ranked_images[1:] == ranked_images[:-1])]
    labels[order[repeat & (ranked_labels >= 0)]] = NOISE
    return labels


def finish(vectors: np.ndarray, labels: np.ndarray, min_size: int) -> Clustering:
    """Small clusters to noise, ids renumbered by size (largest 0; equal sizes by their first face, so
    the numbering depends on the grouping only), confidence = cosine to the mean."""
    labels = np.asarray(labels, np.int64).copy()
    labels[labels < 0] = NOISE
    ids, first, counts = np.unique(labels[labels >= 0], return_index=True, return_counts=True)
    first = np.flatnonzero(labels >= 0)[first]
    keep = counts >= max(min_size, 1)
    big = ids[keep][np.lexsort((first[keep], -counts[keep]))]
    renumber = np.full(labels.max(initial=-1) + 2, NOISE, np.int64)
    renumber[big] = np.arange(len(big))
    labels = np.where(labels >= 0, renumber[np.maximum(labels, 0)], NOISE)
    return Clustering(labels, _confidence(vectors, labels))


def cluster_faces(
    vectors: np.ndarray, image_ids: np.ndarray, config: ClusterConfig, index: IndexConfig | None = None
) -> Clustering:
    """Cluster unit ``vectors`` (faces of photos ``image_ids``) with ``config.method``."""
    vectors = np.ascontiguousarray(vectors, np.float32)
    if len(vectors) < 2:
        return finish(vectors, np.full(len(vectors), NOISE), config.min_cluster_size)
    if config.method == "hdbscan":
        labels = hdbscan_labels(vectors, config.min_cluster_size, config.hdbscan_min_samples)
    elif config.method == "kmeans" and config.kmeans_k:
        labels = kmeans_labels(vectors, config.kmeans_k, config.seed)
    else:
        floor = config.similarity - GRAPH_RECALL_MARGIN
        graph_index = (index or IndexConfig()).model_copy(update={"target_recall": config.graph_recall})
        k = min(config.neighbours, len(vectors) - 1)
        if config.distributed:
            labels = graph_labels_on_ray(vectors, k, graph_index, floor, config)
        else:
            labels = graph_average_linkage(*knn_graph(vectors, k, graph_index, floor), config.similarity)
        if config.method == "kmeans":  # k = the clusters the graph method finds
            k = int(np.sum(np.bincount(labels) >= config.min_cluster_size)) or 1
            log.info("k-means with k=%d", k)
            labels = kmeans_labels(vectors, k, config.seed)
    if config.cannot_link:
        labels = separate_same_photo(vectors, labels, np.asarray(image_ids))
    return finish(vectors, labels, config.min_cluster_size)


NEW = -2  # in ``previous`` label arrays: a face the last clustering did not see


def stable_ids(labels: np.ndarray, previous: np.ndarray) -> np.ndarray:
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
    config: ClusterConfig,
    index: IndexConfig | None = None,
) -> Clustering:
    """Extend an earlier clustering (``previous``: its cluster id per face, NOISE, or NEW) without
    renumbering it, by the same average-linkage rule as the graph method: a new face joins the cluster,
    among those of its nearest clustered faces, whose faces it resembles most on average, when that
    mean similarity reaches ``config.similarity`` (never a cluster holding a face of its photo). New
    faces left over and earlier noise are then clustered among themselves; a group whose mean
    similarity to an earlier cluster reaches the threshold joins it, the others of
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
            if not (config.cannot_link and any((c, p) in photos_in for p in photos))
        ]
        score, cluster = max(scored, default=(-np.inf, None))
        return cluster if score >= config.similarity else None

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
        _, positions = reference.search(vectors[fresh], min(config.neighbours, len(clustered)))
        for face, rows in zip(fresh, positions):
            candidates = {int(labels[clustered[r]]) for r in rows if r >= 0}
            cluster = best_cluster(vectors[face].astype(np.float64), 1, candidates, {str(image_ids[face])})
            if cluster is not None:
                join(np.array([face]), cluster)
    loose = np.flatnonzero(labels == NOISE)
    if len(loose) >= max(2, config.min_cluster_size):
        grouped = cluster_faces(vectors[loose], image_ids[loose], config, index).labels
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
    return Clustering(labels, _confidence(vectors, labels))
