"""Batch stages in this process: the CPU stages on a few threads (reading and decoding spend their
time in I/O and libjpeg, outside the GIL), the model stage's instances on threads of their own (the
engines, too, run outside the GIL), built while the first photos are read. For runs too small to
pay for starting Ray (its processes, its workers' imports, one model load per actor): the same
stages as ``ray_data.stream_on_ray``, the same rows out."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from queue import SimpleQueue

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


class ModelThreads:
    """``workers`` instances of a model stage, each built on a thread of its own as soon as this is
    made (they load while the first photos are read), then running batches on those threads. ``close``
    (or leaving ``with``) ends the threads and frees the instances; a build that failed raises in the
    batch that needed it."""

    def __init__(self, stage: Stage, workers: int) -> None:
        self.batch_size, self.workers = stage.batch_size, workers
        self._threads = ThreadPoolExecutor(workers, thread_name_prefix="facepipe-model")
        self._idle: SimpleQueue = SimpleQueue()  # built instances not running a batch (or why one failed)
        for _ in range(workers):
            self._threads.submit(self._build, stage)

    def _build(self, stage: Stage) -> None:
        try:
            self._idle.put(stage.ready())
        except Exception as exc:  # raised where a batch waits for this instance
            self._idle.put(exc)

    def _run(self, rows: pa.Table) -> pa.Table:
        model = self._idle.get()
        try:
            if isinstance(model, Exception):
                raise model
            return model(rows)
        finally:
            self._idle.put(model)

    def submit(self, rows: pa.Table) -> Future:
        """The model stage's output for ``rows``, once an instance is free."""
        return self._threads.submit(self._run, rows)

    def close(self) -> None:
        """No more batches: waits for what the threads are running (a build in progress included), then
        drops the instances here and now (no model outlives its run, nor is freed on another thread)."""
        self._threads.shutdown(wait=True, cancel_futures=True)
        while not self._idle.empty():
            self._idle.get()

    def __enter__(self) -> ModelThreads:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def stream_in_process(
    blocks: list[pa.Table], cpu_stages: list[Stage], models: ModelThreads | None = None, threads: int | None = None
) -> Iterator[pa.Table]:
    """Run ``cpu_stages`` over ``blocks`` on ``threads`` threads (default: one per core), at most two
    blocks a thread ahead of the model stage (memory stays bounded), then the model stage of ``models``
    (when given) over its batch size of rows at a time, as many batches at once as it has instances;
    yield the last stage's output batches in the order of ``blocks``."""
    threads = threads or os.cpu_count() or 1
    prepare_stages = [(stage.ready(), stage.batch_size) for stage in cpu_stages]

    def prepare(block: pa.Table) -> pa.Table:
        for stage, batch_size in prepare_stages:
            block = _in_batches(stage, block, batch_size)
        return block

    with ThreadPoolExecutor(threads, thread_name_prefix="facepipe-prepare") as preparing:
        remaining = iter(blocks)
        ahead: deque[Future] = deque(
            preparing.submit(prepare, block) for _, block in zip(range(2 * threads), remaining)
        )

        def prepared() -> Iterator[pa.Table]:
            while ahead:
                done = ahead.popleft().result()
                following = next(remaining, None)
                if following is not None:
                    ahead.append(preparing.submit(prepare, following))
                yield done

        if models is None:
            yield from prepared()
            return
        running: deque[Future] = deque()
        for rows in _model_batches(prepared(), models.batch_size):
            running.append(models.submit(rows))
            if len(running) > models.workers:
                yield running.popleft().result()
        while running:
            yield running.popleft().result()
