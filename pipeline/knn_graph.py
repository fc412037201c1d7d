"""Each face's k nearest other faces: the kNN graph the graph method and mining work on, from a FAISS
index planned for the faces, or from index shards over ranges of the faces, their lists merged
(what Ray tasks do for collections one index should not hold: ``graph.knn_graph_on_ray``)."""

from __future__ import annotations

import logging
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.config import IndexConfig
from pipeline.index import KEY, VectorIndex, batches_of

log = logging.getLogger(__name__)

# every face is a query of the graph's index, so a better-built HNSW graph pays back: at 300k faces
# efConstruction 100 took 100 s to build and reached the recall at efSearch 96 (search 91 s), where 40
# took 42 s and needed efSearch 256 (search 178 s)
GRAPH_EF_CONSTRUCTION = 100


def graph_index(
    vectors: np.ndarray, k: int, index: IndexConfig | None = None, floor: float = -1.0, first: int = 0
) -> VectorIndex:
    """The FAISS index of a kNN graph over ``vectors`` (faces ``first`` onwards of a collection: their
    keys), as ``index`` plans it (exact up to 50,000 faces, then HNSW while it fits the memory budget),
    tuned to index.target_recall over the k neighbours at least ``floor`` similar: a face of nobody has
    only far neighbours, which no clustering uses. (HNSW finds a face's own people, tight groups well
    apart from everyone else, at low efSearch; an IVF list holds bits of many people, so IVF needs to
    scan a large share of the lists for the same recall: the whole clustering of 300k synthetic faces
    took 222 s on HNSW against 520 s on IVF-Flat.)"""
    config = index or IndexConfig()
    config = config.model_copy(
        update={
            "k": k,
            "recall_floor": floor,
            "hnsw_ef_construction": max(config.hnsw_ef_construction, GRAPH_EF_CONSTRUCTION),
        }
    )
    entries = pa.table({KEY: pa.array(np.arange(first, first + len(vectors)).astype(str))})
    built = VectorIndex.build(batches_of(entries, vectors, config.batch_rows), len(vectors), vectors.shape[1], config)
    log.info(
        "kNN graph index over %d faces: %s built in %.1f s, %s",
        len(vectors),
        built.plan.factory,
        built.info["build_seconds"],
        built.tuning,
    )
    return built


def nearest_in(built: VectorIndex, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, faces): the k nearest faces of each query in a ``graph_index`` (fewer: -1)."""
    rows = pc.cast(built.entries[KEY], pa.int64()).to_numpy()  # every search task does this: no Python list
    similarities, positions = built.search(queries, min(k, built.size))
    return similarities, np.where(positions >= 0, rows[np.maximum(positions, 0)], -1)


def best_others(
    similarities: list[np.ndarray], neighbours: list[np.ndarray], faces: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each query face's k most similar other faces from several searches (one per index shard): the
    lists side by side, its own hit dropped, best first (equal similarities keep their order)."""
    similarities, neighbours = np.hstack(similarities), np.hstack(neighbours)
    similarities = np.where((neighbours == faces[:, None]) | (neighbours < 0), -np.inf, similarities)
    keep = np.argsort(-similarities, axis=1, kind="stable")[:, :k]
    kept = np.take_along_axis(neighbours, keep, 1)
    kept_similarities = np.take_along_axis(similarities, keep, 1)
    return kept_similarities, np.where(np.isfinite(kept_similarities), kept, -1)


def knn_graph(
    vectors: np.ndarray, k: int, index: IndexConfig | None = None, floor: float = -1.0
) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, neighbours), n x k: each face's k nearest other faces, from one ``graph_index``."""
    built = graph_index(vectors, k, index, floor)
    started = time.perf_counter()
    similarities, neighbours = nearest_in(built, vectors, k + 1)
    log.info("kNN graph: every face searched in %.1f s", time.perf_counter() - started)
    return best_others([similarities], [neighbours], np.arange(len(vectors)), k)


def even_ranges(n: int, parts: int) -> list[tuple[int, int]]:
    """[start, stop) ranges cutting range(n) into ``parts`` near-equal non-empty pieces."""
    edges = np.linspace(0, n, parts + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]
