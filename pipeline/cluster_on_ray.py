"""The graph method spread over a Ray cluster (``cluster.distributed``): for collections whose kNN
graph one machine builds too slowly or cannot hold.

kNN graph: the faces are split into index shards of at most ``cluster.shard_faces``; one task builds
each shard's index (the plan and recall tuning of the one-machine path) into the object store. Search
tasks each take a block of faces, search it in every shard in turn (one shard in memory at a time)
and keep each face's k best: the lists one index over all faces gives, up to each index's
approximation (exact below 50,000 faces a shard).

Linkage: average linkage merges two groups only when the mean similarity of the edges between them
reaches the threshold, so only groups joined by at least one edge at or above it. The connected
components of those edges therefore never share a cluster, and whatever links one component's
faces is inside it: the components are packed into tasks by edge count and linked independently,
which gives the clusters of the one-machine path exactly.

Why not the usual coarse k-means partitions clustered one by one and merged along their borders:
face embeddings are spread evenly over the sphere (that is what the embedder is trained for), so
a k-means partition holds few of its faces' neighbours. Of the neighbours at least 0.35 similar,
a face's own partition held 39% on LFW (8 partitions; 72% counting its 3 nearest partitions) and
41% on 100k synthetic faces: the border merge would be doing nearly all the clustering.
"""
from __future__ import annotations

import heapq
import logging
import math
import resource
import time

import faiss
import numpy as np
import ray
import scipy.sparse as sparse
from scipy.sparse.csgraph import connected_components

from pipeline.config import ClusterConfig, IndexConfig
from pipeline.knn_graph import best_others, graph_index, nearest_in
from pipeline.linkage import average_linkage, undirected_edges

log = logging.getLogger(__name__)

MIN_SEARCH_BLOCK = 10_000  # faces per search task at least: each task loads every shard once


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _use_assigned_cpus() -> None:
    """FAISS threads = the CPUs Ray gave this task (a reused worker keeps its first task's OpenMP setting)."""
    faiss.omp_set_num_threads(max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))))


@ray.remote(num_cpus=1)
def _build_shard(vectors: np.ndarray, first: int, stop: int, k: int, index: IndexConfig, floor: float):
    started = time.perf_counter()
    _use_assigned_cpus()
    built = graph_index(vectors[first:stop], k, index, floor, first)
    return built, {"faces": stop - first, "seconds": round(time.perf_counter() - started, 1),
                   "ef_search": built.tuning.value, "worker_peak_mb": round(_peak_mb())}


@ray.remote(num_cpus=1)
def _search_shards(vectors: np.ndarray, first: int, stop: int, shards: list, k: int):
    started = time.perf_counter()
    _use_assigned_cpus()
    queries, faces = vectors[first:stop], np.arange(first, stop)
    similarities, neighbours = np.full((len(faces), 0), -np.inf, np.float32), np.full((len(faces), 0), -1, np.int64)
    for shard in shards:  # one shard in memory at a time
        found = nearest_in(ray.get(shard), queries, k + 1)
        similarities, neighbours = best_others([similarities, found[0]], [neighbours, found[1]], faces, k)
    return similarities, neighbours, {"faces": stop - first, "seconds": round(time.perf_counter() - started, 1),
                                      "worker_peak_mb": round(_peak_mb())}


def sharded_knn_graph(vectors: np.ndarray, k: int, index: IndexConfig, floor: float, shard_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """``cluster.knn_graph``'s (similarities, neighbours), built and searched by Ray tasks."""
    n = len(vectors)
    shared = ray.put(np.ascontiguousarray(vectors, np.float32))
    shard_bounds = _bounds(n, math.ceil(n / shard_faces))
    node_cpus = max(int(node["Resources"].get("CPU", 1)) for node in ray.nodes() if node["Alive"])
    cpus = int(ray.cluster_resources().get("CPU", 1))
    build_cpus = max(1, min(node_cpus, cpus // len(shard_bounds)))  # HNSW builds in threads: a lone shard takes a node
    started = time.perf_counter()
    shard_refs, stats = zip(*(_build_shard.options(num_returns=2, num_cpus=build_cpus).remote(shared, a, b, k, index, floor)
                              for a, b in shard_bounds))  # the indexes stay in the object store
    log.info("kNN graph: %d index shards built in %.1f s: %s", len(shard_refs), time.perf_counter() - started,
             ray.get(list(stats)))
    blocks = _bounds(n, max(1, min(math.ceil(n / MIN_SEARCH_BLOCK), 2 * cpus)))
    started = time.perf_counter()
    results = ray.get([_search_shards.remote(shared, a, b, list(shard_refs), k) for a, b in blocks])
    log.info("kNN graph: %d faces searched in %d blocks in %.1f s: %s", n, len(blocks), time.perf_counter() - started,
             [r[2] for r in results])
    return np.vstack([r[0] for r in results]), np.vstack([r[1] for r in results])


def _bounds(n: int, parts: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, n, parts + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


@ray.remote(num_cpus=1)
def _link(a: np.ndarray, b: np.ndarray, similarities: np.ndarray, nodes: int, similarity: float):
    started = time.perf_counter()
    labels = average_linkage(a, b, similarities, nodes, similarity)
    return labels, {"faces": nodes, "edges": len(a), "seconds": round(time.perf_counter() - started, 1),
                    "worker_peak_mb": round(_peak_mb())}


def linkage_by_components(a: np.ndarray, b: np.ndarray, similarities: np.ndarray, nodes: int, similarity: float,
                          tasks: int) -> np.ndarray:
    """``cluster.average_linkage`` of the graph, its components of edges >= ``similarity`` linked by up
    to ``tasks`` Ray tasks (packed by edge count, largest first onto the lightest task)."""
    strong = similarities >= similarity
    _, component = connected_components(sparse.coo_matrix((np.ones(int(strong.sum())), (a[strong], b[strong])),
                                                          shape=(nodes, nodes)), directed=False)
    inside = component[a] == component[b]  # edges between components are all below the threshold
    a, b, similarities = a[inside], b[inside], similarities[inside]
    load = np.bincount(component[a], minlength=component.max() + 1)
    task_of = np.full(len(load), -1)
    heap = [(0, t) for t in range(tasks)]
    for c in np.argsort(-load, kind="stable")[: int(np.sum(load > 0))]:
        weight, t = heapq.heappop(heap)
        task_of[c] = t
        heapq.heappush(heap, (weight + int(load[c]), t))
    log.info("linkage: %d components with edges, the largest %d faces; %d tasks", int(np.sum(load > 0)),
             int(np.bincount(component).max(initial=0)), tasks)
    edge_task, face_task = task_of[component[a]], task_of[component]
    pending = []
    for t in range(tasks):
        members = np.flatnonzero(face_task == t)  # ascending: local ids keep the global order (and its ties)
        if len(members):
            mine = edge_task == t
            local = [np.searchsorted(members, ends[mine]) for ends in (a, b)]
            pending.append((members, _link.remote(local[0], local[1], similarities[mine], len(members), similarity)))
    labels = np.arange(nodes)  # faces without a strong edge stay alone
    offset = nodes
    for members, task in pending:
        local_labels, stats = ray.get(task)
        log.info("linkage task: %s", stats)
        labels[members] = offset + local_labels
        offset += len(members)
    return labels


def distributed_graph_labels(vectors: np.ndarray, k: int, index: IndexConfig, floor: float, config: ClusterConfig) -> np.ndarray:
    """The graph method's cluster number per face, its kNN graph and linkage run as Ray tasks."""
    graph = undirected_edges(*sharded_knn_graph(vectors, k, index, floor, config.shard_faces))
    tasks = max(1, int(ray.cluster_resources().get("CPU", 1)))
    return linkage_by_components(*graph, len(vectors), config.similarity, tasks)
