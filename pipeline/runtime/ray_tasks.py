"""Tasks on a Ray cluster. Handles are object references: a task's arguments that are references
are fetched by Ray before it starts, so Ray rebuilds an argument lost with a node from its lineage
and retries the tasks that node ran (its defaults)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ray

from pipeline.io.fence import Fence, held, holding


@ray.remote
def _run(fences: tuple[Fence, ...], fn: Callable, *args: Any) -> Any:
    threads = max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
    with holding(*fences):  # what the task writes to a library is fenced as the driver's writes are
        return fn(threads, *args)


class RayTasks:
    """Tasks on the Ray cluster this process is attached to (pipeline.runtime.ray_cluster.connect)."""

    def __init__(self) -> None:
        self.cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.node_cpus = max(int(node["Resources"].get("CPU", 1)) for node in ray.nodes() if node["Alive"])

    def put(self, value: Any) -> Any:
        return ray.put(value)

    def submit(self, fn: Callable, *args: Any, cpus: int = 1, returns: int = 1) -> Any:
        return _run.options(num_cpus=cpus, num_returns=returns).remote(held(), fn, *args)

    def get(self, handles: Any) -> Any:
        return ray.get(handles)
