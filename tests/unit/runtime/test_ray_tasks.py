"""Tasks on Ray write to a library as fenced as their driver: under the driver's lease, refused once another
run took it over."""

from __future__ import annotations

import pytest

from pipeline.io import store
from pipeline.io.fence import LeaseLost
from tests.unit.io.test_fence import held, take_over


def write_file(threads: int, uri: str) -> str:
    store.write_text(uri, "{}", None)
    return uri


@pytest.mark.slow
def test_a_task_writes_to_a_library_as_fenced_as_its_driver(tmp_path, local_ray) -> None:
    from pipeline.runtime.ray_tasks import RayTasks

    dst = str(tmp_path / "library")
    early, late = (store.join(dst, "_facepipe", name) for name in ("early.json", "late.json"))
    with held(dst):
        tasks = RayTasks()
        assert tasks.get(tasks.submit(write_file, early)) == early
        take_over(dst)
        with pytest.raises(LeaseLost, match="taken over by bob@box:2"):
            tasks.get(tasks.submit(write_file, late))
    assert (tmp_path / "library" / "_facepipe" / "early.json").exists()
    assert not (tmp_path / "library" / "_facepipe" / "late.json").exists()
