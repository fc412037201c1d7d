"""What a vector index is built and tuned with: plain values, their defaults the configuration's (index.*)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IndexSettings:
    """How ``VectorIndex.build`` plans, builds and tunes an index, and when ``outgrown`` asks for a rebuild.

    kind: "auto" (chosen from the vector count, dimension and memory budget), "flat", "hnsw",
    "ivf_flat" or "ivf_pq". memory_budget: bytes the index may take. target_recall: recall@k against
    exact search that nprobe / efSearch is tuned to, counting only the exact neighbours at least
    recall_floor similar. k: neighbours per query in tuning and search. hnsw_m, hnsw_ef_construction:
    HNSW links per node and build-time search depth. tune_queries: held-out queries for the tuning.
    batch_rows: vectors read and added per step (bounds a build's memory). rebuild_removed_fraction:
    share of removed vectors that calls for a rebuild. seed: of the training and query samples.
    """

    kind: str = "auto"
    memory_budget: int = 4 * 1024**3
    target_recall: float = 0.95
    k: int = 10
    recall_floor: float = -1.0
    hnsw_m: int = 32
    hnsw_ef_construction: int = 40
    tune_queries: int = 1000
    batch_rows: int = 65_536
    rebuild_removed_fraction: float = 0.2
    seed: int = 0
