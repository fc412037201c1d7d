"""The Ray cluster a job runs on: attaching to it, and what it offers (CPUs, GPUs).

Ray is imported when first needed: a job that runs in its own process (a small embed run) never pays
its import (about a second)."""

from __future__ import annotations

import os
import sys

from pipeline.config import RayConfig
from pipeline.errors import ConfigError


def attached(cfg: RayConfig) -> bool:
    """True when this process is on a Ray cluster or is told to join one (ray.address, RAY_ADDRESS)."""
    joined = "ray" in sys.modules and sys.modules["ray"].is_initialized()
    return joined or bool(cfg.address or os.environ.get("RAY_ADDRESS"))


def connect(cfg: RayConfig) -> None:
    """Attach to the configured Ray cluster (ray.address, RAY_ADDRESS) or start a fresh local one.

    Without an address this never looks for "the latest cluster started on this machine": Ray's own
    default reads that from /tmp/ray, and a cluster that died without cleaning up leaves a file that
    makes every later job hang trying to reach it. Joining a cluster is explicit (ray.address=auto)."""
    import ray

    if ray.is_initialized():
        return
    address = cfg.address or os.environ.get("RAY_ADDRESS") or "local"
    # a fresh local Ray for one job: no dashboard (its processes cost start-up seconds and memory)
    ray.init(address=address, log_to_driver=False, **({"include_dashboard": False} if address == "local" else {}))


def cluster_resources() -> tuple[float, float]:
    """(CPUs, GPUs) of the Ray cluster this process is attached to."""
    import ray

    resources = ray.cluster_resources()
    return resources.get("CPU", 0), resources.get("GPU", 0)


def cluster_device(requested: str) -> str:
    """The device the cluster's model actors run on: cuda for models.device=cuda, or auto on a cluster
    that has GPUs (the driver itself may have none); else cpu. Raises ConfigError for cuda on a cluster
    without a GPU."""
    gpus = cluster_resources()[1]
    if requested == "cuda" and not gpus:
        raise ConfigError("models.device=cuda but the Ray cluster has no GPU: set models.device=auto or cpu")
    return "cuda" if requested == "cuda" or (requested == "auto" and gpus > 0) else "cpu"
