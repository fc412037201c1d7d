"""Stages run in this process: every row once, in order, model batches of the stage's size, memory bounded,
models built from the start and their failures raised."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from pipeline.runtime.in_process import ModelThreads, stream_in_process
from pipeline.runtime.stages import Stage


def numbered_blocks(rows: int, step: int) -> list[pa.Table]:
    return [pa.table({"n": pa.array(range(start, min(rows, start + step)))}) for start in range(0, rows, step)]


def doubled(batch: pa.Table, offset: int = 0) -> pa.Table:
    return pa.table({"n": batch["n"], "m": pa.array([2 * n + offset for n in batch["n"].to_pylist()])})


class Model:
    """A stateful stage that records the size of every batch it is given and where it ran."""

    built: list[Model] = []

    def __init__(self, tag: str) -> None:
        self.tag, self.sizes, self.threads = tag, [], set()
        Model.built.append(self)

    def __call__(self, batch: pa.Table) -> pa.Table:
        self.sizes.append(batch.num_rows)
        self.threads.add(threading.current_thread().name)
        return batch.append_column("tag", pa.array([self.tag] * batch.num_rows))


def test_every_row_once_in_order_through_model_batches_of_the_stage_size():
    Model.built.clear()
    with ModelThreads(Stage(Model, 10, {"tag": "x"}), 1) as models:
        out = list(stream_in_process(numbered_blocks(103, 16), [Stage(doubled, 16, {"offset": 1})], models, threads=2))
    rows = pa.concat_tables(out)
    assert rows["n"].to_pylist() == list(range(103))
    assert rows["m"].to_pylist() == [2 * n + 1 for n in range(103)]
    assert set(rows["tag"].to_pylist()) == {"x"}
    (model,) = Model.built  # built once, like one actor
    assert model.sizes == [10] * 10 + [3]


def test_model_workers_each_build_their_model_once_and_the_order_holds():
    Model.built.clear()
    with ModelThreads(Stage(Model, 9, {"tag": "y"}), 3) as models:
        out = list(stream_in_process(numbered_blocks(500, 7), [Stage(doubled, 7)], models))
    assert pa.concat_tables(out)["n"].to_pylist() == list(range(500))
    assert len(Model.built) == 3
    assert sum(sum(model.sizes) for model in Model.built) == 500
    assert all(
        model.threads and all(name.startswith("facepipe-model") for name in model.threads) for model in Model.built
    )


def test_cpu_stages_alone_yield_the_prepared_blocks():
    out = list(stream_in_process(numbered_blocks(40, 16), [Stage(doubled, 8)]))
    assert [t.num_rows for t in out] == [16, 16, 8]
    assert pa.concat_tables(out)["m"].to_pylist() == [2 * n for n in range(40)]


def test_an_empty_input_yields_nothing():
    with ModelThreads(Stage(Model, 4, {"tag": "x"}), 2) as models:
        assert list(stream_in_process([], [Stage(doubled, 8)], models)) == []


def test_preparation_stays_at_most_two_blocks_a_thread_ahead():
    prepared, seen_ahead = [], []

    def counting(batch: pa.Table) -> pa.Table:
        prepared.append(batch.num_rows)
        return batch

    def model(batch: pa.Table) -> pa.Table:
        seen_ahead.append(len(prepared) - (batch["n"][-1].as_py() + 1))
        return batch

    with ModelThreads(Stage(model, 1), 1) as models:
        list(stream_in_process(numbered_blocks(200, 1), [Stage(counting, 1)], models, threads=3))
    assert len(prepared) == 200
    assert max(seen_ahead) <= 2 * 3 + 1  # the blocks in flight plus the one just handed over


def test_a_failing_stage_raises_in_the_caller():
    def broken(batch: pa.Table) -> pa.Table:
        if 40 in batch["n"].to_pylist():
            raise ValueError("stage bug")
        return batch

    with pytest.raises(ValueError, match="stage bug"), ModelThreads(Stage(Model, 8, {"tag": "x"}), 2) as models:
        list(stream_in_process(numbered_blocks(64, 8), [Stage(broken, 8)], models))


class Unloadable:
    def __init__(self) -> None:
        raise OSError("no such model file")


def test_a_model_that_fails_to_load_raises_in_the_caller_instead_of_hanging():
    with pytest.raises(OSError, match="no such model file"), ModelThreads(Stage(Unloadable, 4), 2) as models:
        list(stream_in_process(numbered_blocks(20, 4), [Stage(doubled, 4)], models))


def test_models_load_on_their_threads_from_the_start():
    loaded = threading.Event()

    class Slow:
        def __init__(self) -> None:
            loaded.set()

        def __call__(self, batch: pa.Table) -> pa.Table:
            return batch

    with ModelThreads(Stage(Slow, 4), 1):
        assert loaded.wait(10), "the model was not built before any batch was given"
