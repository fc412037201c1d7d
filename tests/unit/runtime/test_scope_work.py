"""Work per scope: small scopes packed into tasks, large ones alone, and a scope's failure kept to itself
(in this process and on Ray, where a pack whose worker dies is run again one scope a task)."""

from __future__ import annotations

import os

import pytest

from pipeline.errors import ConfigError
from pipeline.runtime.scope_work import packs, run_scopes
from pipeline.runtime.tasks import LocalTasks


def test_small_scopes_are_packed_up_to_the_size_and_large_ones_run_alone() -> None:
    sizes = {"a": 12, "b": 6, "c": 5, "d": 4, "e": 3, "big": 40, "f": 1}
    found = packs(sizes, per_task=10)
    assert ["big"] in found and ["a"] in found
    assert sorted(scope for pack in found for scope in pack) == sorted(sizes)
    for pack in found:
        if len(pack) > 1:
            assert sum(sizes[scope] for scope in pack) <= 10
    assert sorted(found) == [["a"], ["b", "d"], ["big"], ["c", "e", "f"]]  # first fit, largest first: 6+4, 5+3+1


def _work(tasks, scope: str, value: int) -> int:
    if scope == "bad":
        raise ValueError(f"bad input in {scope}")
    if scope == "config":
        raise ConfigError("a setting is wrong")
    if scope == "crash":
        os._exit(3)  # the worker dies: no exception reaches the pack
    return value * 2 if tasks is None else -value  # large scopes get the job's tasks


def _inputs(names: list[str]) -> tuple[dict, dict]:
    return {name: (name, k) for k, name in enumerate(names)}, {name: 1 for name in names}


def test_a_failing_scope_fails_alone_and_the_others_keep_their_results() -> None:
    inputs, sizes = _inputs(["a", "bad", "c"])
    sizes["c"] = 50  # runs alone, with the tasks
    done = run_scopes(_work, inputs, sizes, per_task=10, tasks=LocalTasks())
    assert done.results == {"a": 0, "c": -2}
    assert list(done.failed) == ["bad"] and "ValueError: bad input in bad" in done.failed["bad"]
    in_process = run_scopes(_work, inputs, {name: 1 for name in inputs}, per_task=10, tasks=None)
    assert in_process.results == {"a": 0, "c": 4} and list(in_process.failed) == ["bad"]


def test_a_configuration_mistake_stops_the_job() -> None:
    inputs, sizes = _inputs(["a", "config"])
    with pytest.raises(ConfigError):
        run_scopes(_work, inputs, sizes, per_task=10, tasks=None)


@pytest.mark.timeout(240)
def test_on_ray_a_scope_that_kills_its_worker_fails_alone(local_ray) -> None:
    from pipeline.runtime.ray_tasks import RayTasks

    inputs, sizes = _inputs(["a", "b", "bad", "crash", "e"])
    done = run_scopes(_work, inputs, sizes, per_task=10, tasks=RayTasks())
    assert done.results == {"a": 0, "b": 2, "e": 8}
    assert sorted(done.failed) == ["bad", "crash"]
    with pytest.raises(ConfigError):
        run_scopes(_work, *_inputs(["a", "config"]), per_task=10, tasks=RayTasks())
