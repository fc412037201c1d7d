"""Each face's k nearest other faces: the kNN graph the graph method and mining work on, from a FAISS
index planned for the faces, or from index shards over ranges of the faces, their lists merged,
built and searched as tasks (in this process, or on Ray for collections one machine should not
hold)."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.progress import Progress
from pipeline.runtime.tasks import LocalTasks, Tasks, task_report
from pipeline.search.index_choice import FLAT_MAX_VECTORS, plan_index
from pipeline.search.index_settings import IndexSettings
from pipeline.search.threads import faiss_threads
from pipeline.search.vector_index import KEY, VectorIndex, batches_of

log = logging.getLogger(__name__)

# every face is a query of the graph's index, so a better-built HNSW graph pays back: at 300k faces
# efConstruction 100 took 100 s to build and reached the recall at efSearch 96 (search 91 s), where 40
# took 42 s and needed efSearch 256 (search 178 s)
GRAPH_EF_CONSTRUCTION = 100
GRAPH_HNSW_MAX_FACES = 20_000_000  # beyond this an HNSW build takes hours on a small machine


def graph_index(
    vectors: np.ndarray, k: int, index: IndexSettings | None = None, floor: float = -1.0, first: int = 0
) -> VectorIndex:
    """The FAISS index of a kNN graph over ``vectors`` (faces ``first`` onwards of a collection: their
    keys), as ``index`` plans it, except that "auto" takes HNSW from 50,000 to 20M faces while its
    graph fits the memory budget (``graph_kind``); tuned to index.target_recall over the k neighbours
    at least ``floor`` similar: a face of nobody has only far neighbours, which no clustering uses.
    (HNSW finds a face's own people, tight groups well apart from everyone else, at low efSearch, and
    reaches the far ends of the 30-neighbour lists of small groups too, where IVF scans many lists: at
    1M synthetic faces IVF4096 with fast-scan codes, search's choice there, needed nprobe 512 of 4096
    for the graph's recall 0.9 and searched about 1,300 faces/s against HNSW's 2,260 at efSearch 128.)"""
    settings = index or IndexSettings()
    settings = replace(
        settings,
        kind=graph_kind(len(vectors), vectors.shape[1], settings),
        k=k,
        recall_floor=floor,
        hnsw_ef_construction=max(settings.hnsw_ef_construction, GRAPH_EF_CONSTRUCTION),
    )
    entries = pa.table({KEY: pa.array(np.arange(first, first + len(vectors)).astype(str))})
    built = VectorIndex.build(
        batches_of(entries, vectors, settings.batch_rows), len(vectors), vectors.shape[1], settings
    )
    log.info(
        "kNN graph index over %d faces: %s built in %.1f s, %s",
        len(vectors),
        built.plan.factory,
        built.info["build_seconds"],
        built.tuning,
    )
    return built


def graph_kind(vectors: int, dim: int, index: IndexSettings) -> str:
    """The index kind of a kNN graph over ``vectors`` faces: where "auto" would index 50,000 to 20M
    faces, HNSW while its graph fits the memory budget; else ``index.kind``."""
    if index.kind != "auto" or not FLAT_MAX_VECTORS < vectors <= GRAPH_HNSW_MAX_FACES:
        return index.kind
    hnsw = plan_index(vectors, dim, index.memory_budget, "hnsw", index.hnsw_m)
    return "hnsw" if hnsw.bytes_estimate <= index.memory_budget else "auto"


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


MIN_SEARCH_BLOCK = 10_000  # faces per search task at least: each task loads an index shard


def _build_shard(
    threads: int, vectors: np.ndarray, first: int, stop: int, k: int, index: IndexSettings | None, floor: float
) -> tuple[VectorIndex, dict]:
    started = time.perf_counter()
    with faiss_threads(threads):
        built = graph_index(vectors[first:stop], k, index, floor, first)
    return built, task_report(started, faces=stop - first, ef_search=built.tuning.value)


def _search_shard(
    threads: int, vectors: np.ndarray, first: int, stop: int, shard: VectorIndex, k: int
) -> tuple[tuple[np.ndarray, np.ndarray], dict]:
    started = time.perf_counter()
    with faiss_threads(threads):
        found = nearest_in(shard, vectors[first:stop], k + 1)
    return found, task_report(started, faces=stop - first)


def knn_graph(
    vectors: np.ndarray,
    k: int,
    index: IndexSettings | None = None,
    floor: float = -1.0,
    shard_faces: int | None = None,
    tasks: Tasks | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, neighbours), n x k: each face's k nearest other faces.

    The faces are indexed in shards of at most ``shard_faces`` (default: one index), each built by a
    task (a lone shard takes a whole machine's CPUs: HNSW builds in threads); one search task per block
    of faces and shard (the shard is a task argument, so a runtime that loses it with a machine
    rebuilds it before the task starts); each block's lists merged here. ``tasks``: where they run
    (default: in this process)."""
    tasks = tasks or LocalTasks()
    n = len(vectors)
    shared = tasks.put(np.ascontiguousarray(vectors, np.float32))
    shards = even_ranges(n, math.ceil(n / shard_faces) if shard_faces else 1)
    shard_cpus = max(1, min(tasks.node_cpus, tasks.cpus // len(shards)))
    started = time.perf_counter()
    built = [
        tasks.submit(_build_shard, shared, first, stop, k, index, floor, cpus=shard_cpus, returns=2)
        for first, stop in shards
    ]
    reports = tasks.get([report for _, report in built])
    log.info("kNN graph: %d index shards built in %.1f s: %s", len(shards), time.perf_counter() - started, reports)
    blocks = even_ranges(n, max(1, min(math.ceil(n / MIN_SEARCH_BLOCK), 2 * tasks.cpus)))
    started = time.perf_counter()
    searches = [
        [tasks.submit(_search_shard, shared, first, stop, shard, k) for shard, _ in built] for first, stop in blocks
    ]
    similarities, neighbours, reports = [], [], []
    with Progress("kNN graph: faces searched", n, "face") as bar:
        for (first, stop), block in zip(blocks, searches):
            found = tasks.get(block)
            best = best_others([f[0] for f, _ in found], [f[1] for f, _ in found], np.arange(first, stop), k)
            similarities.append(best[0])
            neighbours.append(best[1])
            reports += [report for _, report in found]
            bar.advance(stop - first)
    log.info(
        "kNN graph: %d faces searched in %d blocks x %d shards in %.1f s: %s",
        n,
        len(blocks),
        len(shards),
        time.perf_counter() - started,
        reports,
    )
    return np.vstack(similarities), np.vstack(neighbours)


def even_ranges(n: int, parts: int) -> list[tuple[int, int]]:
    """[start, stop) ranges cutting range(n) into ``parts`` near-equal non-empty pieces."""
    edges = np.linspace(0, n, parts + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _exact_nearest(indexed: np.ndarray, rows: np.ndarray, queries: np.ndarray, k: int):
    """(similarities, faces): the k nearest of ``indexed`` (faces ``rows``) to each query, by exact search."""
    index = faiss.IndexFlatIP(indexed.shape[1])
    index.add(np.ascontiguousarray(indexed, np.float32))
    similarities, positions = index.search(np.ascontiguousarray(queries, np.float32), min(k, len(rows)))
    return similarities, np.where(positions >= 0, rows[np.maximum(positions, 0)], -1)


def extend_knn_graph(
    vectors: np.ndarray, similarities: np.ndarray, neighbours: np.ndarray, fresh: np.ndarray, added: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """A kNN graph (``similarities`` / ``neighbours``, n x k, -1 for none) brought up to date after faces
    came and went: the ``fresh`` faces (added ones, and those whose lists lost faces that went) are
    searched exactly against every face; every other face merges its list with an exact search of the
    ``added`` faces. Costs the fresh faces times all faces, not a new graph."""
    vectors = np.ascontiguousarray(vectors, np.float32)
    similarities, neighbours = similarities.copy(), neighbours.copy()
    everyone = np.arange(len(vectors))
    fresh_rows, added_rows = np.flatnonzero(fresh), np.flatnonzero(added)
    if len(fresh_rows):
        found = _exact_nearest(vectors, everyone, vectors[fresh_rows], k + 1)
        similarities[fresh_rows], neighbours[fresh_rows] = best_others([found[0]], [found[1]], fresh_rows, k)
    kept = np.flatnonzero(~fresh)
    if len(added_rows) and len(kept):
        for start in range(0, len(kept), MIN_SEARCH_BLOCK):
            rows = kept[start : start + MIN_SEARCH_BLOCK]
            found = _exact_nearest(vectors[added_rows], added_rows, vectors[rows], k)
            merged = best_others([similarities[rows], found[0]], [neighbours[rows], found[1]], rows, k)
            similarities[rows], neighbours[rows] = merged
    return similarities, neighbours
