"""Tasks: a function run with its arguments somewhere, its result fetched later. The domain writes
its parallel work (index shards, search blocks, linkage groups) against this interface once;
``LocalTasks`` runs it in this process, ``ray_tasks.RayTasks`` on a Ray cluster."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from typing import Any, Protocol


class Tasks(Protocol):
    """Where tasks run. A task function takes ``threads`` (the CPUs it may use) first; ``put`` shares
    a large argument once; ``submit`` returns a handle per return value; ``get`` resolves handles."""

    cpus: int  # tasks that can run at once
    node_cpus: int  # CPUs of the largest machine: what one task may take at most

    def put(self, value: Any) -> Any: ...

    def submit(self, fn: Callable, *args: Any, cpus: int = 1, returns: int = 1) -> Any: ...

    def get(self, handles: Any) -> Any: ...


def task_report(started: float, **figures) -> dict:
    """A task's figures with its seconds and its worker's peak memory, for the driver's log."""
    return {
        **figures,
        "seconds": round(time.perf_counter() - started, 1),
        "worker_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


class LocalTasks:
    """Tasks run at once, one at a time, in this process, each with every CPU of this machine."""

    cpus = 1
    node_cpus = os.cpu_count() or 1

    def put(self, value: Any) -> Any:
        return value

    def submit(self, fn: Callable, *args: Any, cpus: int = 1, returns: int = 1) -> Any:
        return fn(self.node_cpus, *args)

    def get(self, handles: Any) -> Any:
        return handles
