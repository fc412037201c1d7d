"""Wires the stages into Ray, sized from the cluster's resources.

The embed job: one Ray Data pipeline. read + decode run as CPU tasks; detect/align/embed run in a
pool of model actors (one per GPU, or one per CPU). The driver consumes analysed photo rows as a
stream. Ray Data retries tasks and restarts model actors lost with a node (its defaults:
max_restarts=-1, max_task_retries=-1).

The graph clustering method with ``cluster.distributed``: index shards built by tasks into the
object store, search tasks over blocks of faces and shards, then linkage tasks over independent groups of the
graph's components (``linkage.linkage_groups``). Tasks are retried and lost objects rebuilt from
their lineage (Ray's defaults). Each task reports its seconds and its worker's peak memory.
"""

from __future__ import annotations

import logging
import math
import os
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass

import faiss
import numpy as np
import pyarrow as pa
import ray

from pipeline import schema as S
from pipeline.analyze import AnalyzeFaces
from pipeline.config import ClusterConfig, Config, ConfigError, IndexConfig, RayConfig
from pipeline.decode import decode_photos
from pipeline.knn_graph import best_others, even_ranges, graph_index, nearest_in
from pipeline.linkage import average_linkage, join_groups, linkage_groups, undirected_edges
from pipeline.store import read_photos

log = logging.getLogger(__name__)

READ_TASK_CPUS = 0.5  # read + decode is I/O and libjpeg: half a CPU each leaves room for the models


@dataclass(frozen=True)
class ModelPool:
    """How many model actors run and what each reserves."""

    actors: int
    cpus: float
    gpus: float


def size_model_pool(cluster_cpus: float, cluster_gpus: float, cfg: RayConfig, use_gpu: bool) -> ModelPool:
    """Model actors for a cluster: one per GPU, else one single-threaded actor per CPU, always leaving
    READ_TASK_CPUS of the cluster for the read/decode tasks (fractional reservations). With more
    actors than GPUs (ray.model_actors) the actors share the GPUs: their Python, NMS and host
    transfers then overlap each other's GPU work.

    Explicit ``cfg.model_actors`` / ``cfg.actor_cpus`` win. Raises ConfigError when the pool would
    leave no CPU for the read tasks (the job would hang).
    """
    usable = cluster_cpus - READ_TASK_CPUS
    if use_gpu:
        actors = cfg.model_actors or max(1, int(cluster_gpus))
    else:
        actors = cfg.model_actors or max(1, int(cluster_cpus))
    gpus = min(1.0, cluster_gpus / actors) if use_gpu else 0.0  # several actors may share a GPU
    pool = ModelPool(actors, cfg.actor_cpus or min(1.0, usable / actors), gpus)
    if pool.cpus <= 0 or pool.actors * pool.cpus > usable + 1e-9:
        raise ConfigError(
            f"{pool.actors} model actors x {pool.cpus} CPUs leave less than {READ_TASK_CPUS} of the cluster's "
            f"{cluster_cpus} CPUs for reading: lower ray.model_actors or ray.actor_cpus"
        )
    return pool


def connect(cfg: RayConfig) -> None:
    """Attach to the configured Ray cluster (ray.address, RAY_ADDRESS) or start a fresh local one.

    Without an address this never looks for "the latest cluster started on this machine": Ray's own
    default reads that from /tmp/ray, and a cluster that died without cleaning up leaves a file that
    makes every later job hang trying to reach it. Joining a cluster is explicit (ray.address=auto)."""
    if ray.is_initialized():
        return
    ray.init(address=cfg.address or os.environ.get("RAY_ADDRESS") or "local", log_to_driver=False)


def cluster_uses_gpus(config: Config) -> bool:
    """Whether the model actors take GPUs: models.device=cuda, or auto on a cluster that has GPUs
    (the driver itself may have none). Raises ConfigError for cuda on a cluster without a GPU."""
    gpus = ray.cluster_resources().get("GPU", 0)
    if config.models.device == "cuda" and not gpus:
        raise ConfigError("models.device=cuda but the Ray cluster has no GPU: set models.device=auto or cpu")
    return config.models.device == "cuda" or (config.models.device == "auto" and gpus > 0)


def analyze_photos(uris: list[str], config: Config) -> Iterator[pa.Table]:
    """Run read -> decode -> detect/align/embed over ``uris``; yield outcome rows (analyzed_schema)."""
    if not uris:
        return
    resources = ray.cluster_resources()
    use_gpu = cluster_uses_gpus(config)
    pool = size_model_pool(resources.get("CPU", 0), resources.get("GPU", 0), config.ray, use_gpu)
    log.info("model pool: %s", pool)
    step = config.ray.read_batch_size
    blocks = [pa.table({S.URI: pa.array(uris[i : i + step], pa.string())}) for i in range(0, len(uris), step)]
    storage = config.resolved_storage()
    dataset = (
        ray.data.from_arrow(blocks)
        .map_batches(
            read_photos,
            fn_kwargs={"storage": storage},
            batch_format="pyarrow",
            batch_size=step,
            num_cpus=READ_TASK_CPUS,
        )
        .map_batches(
            decode_photos,
            fn_kwargs={
                "max_pixels": config.decode.max_pixels,
                "reduce_to": config.models.detect_max_side if config.decode.reduce_jpeg else None,
                "device_min_pixels": config.decode.device_min_pixels if use_gpu else None,
            },
            batch_format="pyarrow",
            batch_size=step,
            num_cpus=READ_TASK_CPUS,
        )
        .map_batches(
            AnalyzeFaces,
            fn_constructor_kwargs={
                "models": config.models,
                "threads": max(1, round(pool.cpus)),
                "max_pixels": config.decode.max_pixels,
            },
            batch_format="pyarrow",
            batch_size=config.ray.model_batch_size,
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=pool.actors),
            num_cpus=pool.cpus,
            num_gpus=pool.gpus,
        )
    )
    yield from dataset.iter_batches(batch_format="pyarrow", batch_size=None)


MIN_SEARCH_BLOCK = 10_000  # faces per search task at least: each task loads an index shard


def _task_report(started: float, **figures) -> dict:
    return {
        **figures,
        "seconds": round(time.perf_counter() - started, 1),
        "worker_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _use_assigned_cpus() -> None:
    """FAISS threads = the CPUs Ray gave this task (a reused worker keeps its first task's OpenMP setting)."""
    faiss.omp_set_num_threads(max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))))


@ray.remote(num_cpus=1)
def _build_shard(vectors, first: int, stop: int, k: int, index: IndexConfig, floor: float):
    started = time.perf_counter()
    _use_assigned_cpus()
    built = graph_index(vectors[first:stop], k, index, floor, first)
    return built, _task_report(started, faces=stop - first, ef_search=built.tuning.value)


@ray.remote(num_cpus=1)
def _search_shard(vectors, first: int, stop: int, shard, k: int):
    started = time.perf_counter()
    _use_assigned_cpus()
    return nearest_in(shard, vectors[first:stop], k + 1), _task_report(started, faces=stop - first)


@ray.remote(num_cpus=1)
def _link(group, similarity: float):
    started = time.perf_counter()
    labels = average_linkage(group.a, group.b, group.similarities, len(group.nodes), similarity)
    return labels, _task_report(started, faces=len(group.nodes), edges=len(group.a))


def knn_graph_on_ray(
    vectors: np.ndarray, k: int, index: IndexConfig, floor: float, shard_faces: int
) -> tuple[np.ndarray, np.ndarray]:
    """``knn_graph``'s (similarities, neighbours) from index shards of at most ``shard_faces`` faces,
    each built by a task (a lone shard takes a whole node's CPUs: HNSW builds in threads) and left in
    the object store; one search task per block of faces and shard (a shard is a task's argument, so
    Ray rebuilds a shard lost with its node before the task starts), each block's lists merged here."""
    n = len(vectors)
    shared = ray.put(np.ascontiguousarray(vectors, np.float32))
    shards = even_ranges(n, math.ceil(n / shard_faces))
    node_cpus = max(int(node["Resources"].get("CPU", 1)) for node in ray.nodes() if node["Alive"])
    cpus = int(ray.cluster_resources().get("CPU", 1))
    started = time.perf_counter()
    built = [
        _build_shard.options(num_returns=2, num_cpus=max(1, min(node_cpus, cpus // len(shards)))).remote(
            shared, first, stop, k, index, floor
        )
        for first, stop in shards
    ]
    reports = ray.get([report for _, report in built])
    log.info("kNN graph: %d index shards built in %.1f s: %s", len(shards), time.perf_counter() - started, reports)
    blocks = even_ranges(n, max(1, min(math.ceil(n / MIN_SEARCH_BLOCK), 2 * cpus)))
    started = time.perf_counter()
    searches = [[_search_shard.remote(shared, first, stop, shard, k) for shard, _ in built] for first, stop in blocks]
    similarities, neighbours, reports = [], [], []
    for (first, stop), block in zip(blocks, searches):
        found = ray.get(block)
        best = best_others([f[0] for f, _ in found], [f[1] for f, _ in found], np.arange(first, stop), k)
        similarities.append(best[0])
        neighbours.append(best[1])
        reports += [report for _, report in found]
    log.info(
        "kNN graph: %d faces searched in %d blocks x %d shards in %.1f s: %s",
        n,
        len(blocks),
        len(shards),
        time.perf_counter() - started,
        reports,
    )
    return np.vstack(similarities), np.vstack(neighbours)


def linkage_on_ray(
    a: np.ndarray, b: np.ndarray, similarities: np.ndarray, nodes: int, similarity: float, tasks: int
) -> np.ndarray:
    """``average_linkage`` of the graph by up to ``tasks`` tasks, one per group of its components."""
    groups = linkage_groups(a, b, similarities, nodes, similarity, tasks)
    log.info(
        "linkage: %d faces with an edge >= %.2f in %d tasks", sum(len(g.nodes) for g in groups), similarity, len(groups)
    )
    results = ray.get([_link.remote(group, similarity) for group in groups])
    log.info("linkage tasks: %s", [report for _, report in results])
    return join_groups(nodes, groups, [labels for labels, _ in results])


def graph_labels_on_ray(
    vectors: np.ndarray, k: int, index: IndexConfig, floor: float, config: ClusterConfig
) -> np.ndarray:
    """The graph method's cluster number per face, its kNN graph and its linkage run as Ray tasks (on
    the Ray this process is attached to, else on a fresh local one)."""
    connect(RayConfig())
    graph = undirected_edges(*knn_graph_on_ray(vectors, k, index, floor, config.shard_faces))
    return linkage_on_ray(*graph, len(vectors), config.similarity, max(1, int(ray.cluster_resources().get("CPU", 1))))
