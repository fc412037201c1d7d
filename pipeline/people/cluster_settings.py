"""What faces are clustered with: plain values, their defaults the configuration's (cluster.*)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClusterSettings:
    """How ``cluster_faces`` and ``assign_incrementally`` group faces into people.

    method: "graph" (average linkage along a kNN graph), "hdbscan" or "kmeans". similarity: a fixed
    merge threshold (None: calibrated from the collection, two single faces at single_margin above its
    different-person level, large groups at group_margin above it). neighbours: per face in the kNN
    graph, whose index is tuned to graph_recall; shard_faces: faces per index shard of the graph.
    min_cluster_size: smaller clusters become noise. hdbscan_min_samples: hdbscan's min_samples.
    kmeans_k: k-means' clusters (None: as many as the graph method finds). cannot_link: two faces of
    one photo never share a cluster. seed: of k-means and of the calibration's pair samples.
    level_ceiling: set by the cluster job for a small scope (the model's level; None: uncapped).
    """

    method: str = "graph"
    similarity: float | None = None
    single_margin: float = 0.38
    group_margin: float = 0.27
    neighbours: int = 30
    graph_recall: float = 0.9
    shard_faces: int = 2_000_000
    min_cluster_size: int = 2
    hdbscan_min_samples: int = 1
    kmeans_k: int | None = None
    cannot_link: bool = True
    seed: int = 0
    level_ceiling: float | None = None  # the highest different-person level the faces may measure (MergeMargins)
