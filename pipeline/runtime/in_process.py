"""Batch stages in this process: the CPU stages on a few threads (reading and decoding spend their
time in I/O and libjpeg, outside the GIL), the model stage on threads of its own (the engines, too,
run outside the GIL).
For runs too small to pay for starting Ray (its processes, its workers' imports, one model load per
actor): the same stages as ``ray_data.stream_on_ray``, the same rows out."""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pyarrow as pa

from pipeline.runtime.stages import Stage


def _in_batches(stage: Callable[[pa.Table], pa.Table], rows: pa.Table, batch_size: int) -> pa.Table:
    """``stage`` applied to ``rows`` ``batch_size`` rows at a time, the outputs concatenated."""
    if rows.num_rows <= batch_size:
        return stage(rows)
    return pa.concat_tables([stage(rows.slice(start, batch_size)) for start in range(0, rows.num_rows, batch_size)])


def _model_batches(prepared: Iterator[pa.Table], batch_size: int) -> Iterator[pa.Table]:
    """The rows of ``prepared``, in order, ``batch_size`` at a time (the last batch may be smaller)."""
    waiting: list[pa.Table] = []
    for table in prepared:
        waiting.append(table)
        while sum(t.num_rows for t in waiting) >= batch_size:
            rows = pa.concat_tables(waiting)
            waiting = [rows.slice(batch_size)]
            yield rows.slice(0, batch_size)
    rest = pa.concat_tables(waiting) if waiting else None
    if rest is not None and rest.num_rows:
        yield rest


def stream_in_process(
    blocks: list[pa.Table],
    cpu_stages: list[Stage],
    model_stage: Stage | None = None,
    threads: int | None = None,
    model_workers: int = 1,
) -> Iterator[pa.Table]:
    """Run ``cpu_stages`` over ``blocks`` on ``threads`` threads (default: one per core), at most two
    blocks a thread ahead of the model stage (memory stays bounded), then ``model_stage`` (when given)
    over ``model_stage.batch_size`` rows at a time, on ``model_workers`` threads, each building its own
    instance of it; yield the last stage's output batches in the order of ``blocks``."""
    threads = threads or os.cpu_count() or 1
    prepare_stages = [(stage.ready(), stage.batch_size) for stage in cpu_stages]

    def prepare(block: pa.Table) -> pa.Table:
        for stage, batch_size in prepare_stages:
            block = _in_batches(stage, block, batch_size)
        return block

    def prepared(pool: ThreadPoolExecutor) -> Iterator[pa.Table]:
        remaining = iter(blocks)
        ahead: deque[Future] = deque(pool.submit(prepare, block) for _, block in zip(range(2 * threads), remaining))
        while ahead:
            done = ahead.popleft().result()
            following = next(remaining, None)
            if following is not None:
                ahead.append(pool.submit(prepare, following))
            yield done

    with ThreadPoolExecutor(threads, thread_name_prefix="facepipe-prepare") as preparing:
        if model_stage is None:
            yield from prepared(preparing)
            return
        built = threading.local()  # each model thread builds its instance on its first batch, while reading starts

        def analyse(rows: pa.Table) -> pa.Table:
            if not hasattr(built, "model"):
                built.model = model_stage.ready()
            return built.model(rows)

        with ThreadPoolExecutor(model_workers, thread_name_prefix="facepipe-model") as modelling:
            running: deque[Future] = deque()
            for rows in _model_batches(prepared(preparing), model_stage.batch_size):
                running.append(modelling.submit(analyse, rows))
                if len(running) > model_workers:
                    yield running.popleft().result()
            while running:
                yield running.popleft().result()
