"""Wires the stages into one Ray Data pipeline, sized from the cluster's resources.

read + decode run as CPU tasks; detect/align/embed run in a pool of model actors (one per GPU, or
one per CPU). The driver consumes analysed photo rows as a stream. Ray Data retries tasks and
restarts model actors lost with a node (its defaults: max_restarts=-1, max_task_retries=-1).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import ray

from pipeline import schema as S
from pipeline.analyze import AnalyzeFaces
from pipeline.config import Config, ConfigError, RayConfig
from pipeline.decode import decode_photos
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
        .map_batches(read_photos, fn_kwargs={"storage": storage}, batch_format="pyarrow", batch_size=step, num_cpus=READ_TASK_CPUS)
        .map_batches(
            decode_photos,
            fn_kwargs={"max_pixels": config.decode.max_pixels,
                       "reduce_to": config.models.detect_max_side if config.decode.reduce_jpeg else None,
                       "device_min_pixels": config.decode.device_min_pixels if use_gpu else None},
            batch_format="pyarrow",
            batch_size=step, num_cpus=READ_TASK_CPUS,
        )
        .map_batches(
            AnalyzeFaces,
            fn_constructor_kwargs={"models": config.models, "threads": max(1, round(pool.cpus)),
                                   "max_pixels": config.decode.max_pixels},
            batch_format="pyarrow",
            batch_size=config.ray.model_batch_size,
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=pool.actors),
            num_cpus=pool.cpus,
            num_gpus=pool.gpus,
        )
    )
    yield from dataset.iter_batches(batch_format="pyarrow", batch_size=None)
