"""Identity clustering of face embeddings, without an n x n matrix.

Methods (chosen from measured results on LFW and pins, see the README):
- graph (default): a kNN graph from a FAISS index (``knn_graph``), then average linkage along the
  graph's edges (``average_linkage``, by reciprocal best-neighbour rounds): two groups merge while the
  mean similarity of all pairs of their faces passes the merge rule the collection calibrates
  (``calibration``), a threshold that falls from single faces to large groups. Average linkage
  resists the chaining that single-linkage schemes (DBSCAN, connected components) suffer between
  look-alikes. Both steps run as tasks: in this process, or on Ray (``cluster.distributed``).
- hdbscan: the hdbscan package on the unit vectors (Euclidean distance, monotone in cosine).
- kmeans: FAISS k-means on the unit vectors, k given or estimated by the graph method.
Then: faces of one photo are split apart (cannot-link), clusters below ``min_cluster_size`` become
noise (-1), ids are renumbered largest first, and each face gets a confidence (cosine to its
cluster's mean direction).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import faiss
import numpy as np

from pipeline import schema as S
from pipeline.people.calibration import Calibration, MergeMargins, merge_rule_from_first_pass, preliminary
from pipeline.people.cluster_settings import ClusterSettings
from pipeline.people.linkage import MergeRule, grouped_linkage, undirected_edges
from pipeline.runtime.tasks import LocalTasks, Tasks
from pipeline.search.index_settings import IndexSettings
from pipeline.search.knn_graph import knn_graph

log = logging.getLogger(__name__)

NOISE = S.NOISE_CLUSTER


@dataclass(frozen=True)
class Clustering:
    """Cluster id per face (NOISE for none, 0 = the largest cluster) and its confidence."""

    labels: np.ndarray
    confidence: np.ndarray
    merge_rule: dict = field(default_factory=dict)  # the graph method's rule and what it was chosen from

    @property
    def ids(self) -> np.ndarray:
        """The cluster ids in use, ascending."""
        return np.unique(self.labels[self.labels >= 0])

    @property
    def clusters(self) -> int:
        return len(self.ids)


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


def centroid_similarity(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
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
    score = np.where(labels >= 0, centroid_similarity(vectors, labels), -np.inf)
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
    return Clustering(labels, centroid_similarity(vectors, labels))


def cluster_faces(
    vectors: np.ndarray,
    image_ids: np.ndarray,
    settings: ClusterSettings,
    index: IndexSettings | None = None,
    tasks: Tasks | None = None,
    rule: MergeRule | None = None,
) -> Clustering:
    """Cluster unit ``vectors`` (faces of photos ``image_ids``) with ``settings.method``; the graph
    method's kNN graph (its index built with ``index``, default: IndexSettings(), tuned to
    ``settings.graph_recall``) and linkage run as ``tasks`` (default: in this process; the same clusters
    either way), with ``rule`` when given (an earlier run's), else the rule the faces calibrate."""
    vectors = np.ascontiguousarray(vectors, np.float32)
    if len(vectors) < 2:
        return finish(vectors, np.full(len(vectors), NOISE), settings.min_cluster_size)
    chosen: dict = {}
    if settings.method == "hdbscan":
        labels = hdbscan_labels(vectors, settings.min_cluster_size, settings.hdbscan_min_samples)
    elif settings.method == "kmeans" and settings.kmeans_k:
        labels = kmeans_labels(vectors, settings.kmeans_k, settings.seed)
    else:
        tasks = tasks or LocalTasks()
        graph_index = replace(index or IndexSettings(), target_recall=settings.graph_recall)
        margins = MergeMargins(settings.single_margin, settings.group_margin, settings.level_ceiling)
        first = (
            Calibration(rule, None, 0) if rule else preliminary(vectors, margins, settings.seed, settings.similarity)
        )
        # recall counts the neighbours similar enough to merge two single faces: a pair below that only
        # joins groups, which many edges between them propose; lower floors count faces of other people
        # that no merge uses, and the search for them was most of the graph's time (see the README)
        floor = first.rule.single
        graph = knn_graph(
            vectors, min(settings.neighbours, len(vectors) - 1), graph_index, floor, settings.shard_faces, tasks
        )
        edges = undirected_edges(*graph)
        calibration = merge_rule_from_first_pass(vectors, edges, first, margins, settings.seed, tasks)
        log.info("merge rule: %s", calibration.describe())
        labels = grouped_linkage(*edges, vectors, calibration.rule, tasks)
        chosen = calibration.describe()
        if settings.method == "kmeans":  # k = the clusters the graph method finds
            k = int(np.sum(np.bincount(labels) >= settings.min_cluster_size)) or 1
            log.info("k-means with k=%d", k)
            labels = kmeans_labels(vectors, k, settings.seed)
    if settings.cannot_link:
        labels = separate_same_photo(vectors, labels, np.asarray(image_ids))
    return replace(finish(vectors, labels, settings.min_cluster_size), merge_rule=chosen)
