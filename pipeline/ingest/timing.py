"""Busy seconds per stage, carried with each photo through the pipeline (its share of its batch),
so that a run can say where its time went without a profiler."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.compute as pc

from pipeline import schema as S


def zero_seconds(rows: int) -> pa.StructArray:
    """A SECONDS column of zeros for ``rows`` photos."""
    zeros = pa.array([0.0] * rows, pa.float64())
    return pa.StructArray.from_arrays([zeros] * len(S.STAGES), fields=list(S.SECONDS_TYPE))


def add_seconds(column: pa.Array | pa.ChunkedArray, spent: dict[str, float]) -> pa.StructArray:
    """``column`` (SECONDS) with each stage's ``spent`` seconds shared equally among its photos."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    rows = max(1, len(column))
    fields = [
        pc.add(column.field(stage), spent[stage] / rows) if stage in spent else column.field(stage)
        for stage in S.STAGES
    ]
    return pa.StructArray.from_arrays(fields, fields=list(S.SECONDS_TYPE))


def total_seconds(column: pa.Array | pa.ChunkedArray) -> dict[str, float]:
    """Seconds per stage summed over the photos of a SECONDS column."""
    return {stage: float(pc.sum(pc.struct_field(column, stage)).as_py() or 0.0) for stage in S.STAGES}


@contextmanager
def timed(spent: dict[str, float], stage: str) -> Iterator[None]:
    """Add the wall seconds of the block to ``spent[stage]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        spent[stage] = spent.get(stage, 0.0) + time.perf_counter() - start
