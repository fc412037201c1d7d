"""Batch stages on Ray Data: stateless CPU stages as tasks feeding a pool of stateful actors (the
models), results streamed back to the driver. Ray Data retries tasks and restarts actors lost with a
node (its defaults: max_restarts=-1, max_task_retries=-1)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from pipeline.runtime.pool import READ_TASK_CPUS, ModelPool
from pipeline.runtime.stages import Stage


def stream_on_ray(
    blocks: list[pa.Table], cpu_stages: list[Stage], model_stage: Stage | None = None, pool: ModelPool | None = None
) -> Iterator[pa.Table]:
    """Run ``cpu_stages`` as tasks of READ_TASK_CPUS each, then ``model_stage`` (when given) in a pool
    of ``pool.actors`` actors (fewer for fewer model batches) reserving ``pool.cpus`` / ``pool.gpus``,
    over ``blocks``; yield the last stage's output batches as they come (in no particular order)."""
    import ray  # here, not above: a job that runs in its own process never pays Ray's import

    context = ray.data.DataContext.get_current()  # the job shows its own progress: Ray Data's bars would fight it
    context.enable_progress_bars = context.enable_operator_progress_bars = False
    dataset = ray.data.from_arrow(blocks)
    for stage in cpu_stages:
        dataset = dataset.map_batches(
            stage.fn,
            fn_kwargs=stage.kwargs,
            batch_format="pyarrow",
            batch_size=stage.batch_size,
            num_cpus=READ_TASK_CPUS,
        )
    if model_stage is None:
        yield from dataset.iter_batches(batch_format="pyarrow", batch_size=None)
        return
    # grown from one actor, never started whole: on nodes of one CPU each, two 0.75-CPU actors left no
    # node room for a read task and the job hung (a pool started whole left a short run's second
    # actor pending less long, but correctness first)
    actors = pool.actors_for(sum(block.num_rows for block in blocks), model_stage.batch_size)
    dataset = dataset.map_batches(
        model_stage.fn,
        fn_constructor_kwargs=model_stage.kwargs,
        batch_format="pyarrow",
        batch_size=model_stage.batch_size,
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors),
        num_cpus=pool.cpus,
        num_gpus=pool.gpus,
    )
    yield from dataset.iter_batches(batch_format="pyarrow", batch_size=None)
