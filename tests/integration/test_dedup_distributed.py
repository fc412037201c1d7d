"""The pair search of `facepipe dedup` as Ray tasks on a local two-node cluster finds the groups one
process finds."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.dedup_scale import synthetic_images
from pipeline import schema as S
from pipeline.config import load_config
from pipeline.dedup import candidates
from pipeline.dedup.dedup_job import deduplicate
from pipeline.io.tables import FaceTables, read_table
from pipeline.runtime.ray_tasks import RayTasks

pytestmark = pytest.mark.timeout(300)


def _groups(dst: str) -> set[frozenset]:
    rows = read_table(dst, S.DUPLICATES_TABLE).to_pylist()
    members: dict[str, set] = {}
    for row in rows:
        members.setdefault(row[S.GROUP_ID], set()).add(row[S.URI])
    return {frozenset(m) for m in members.values()}


def test_ray_tasks_find_the_groups_of_one_process(two_nodes, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(candidates, "MIN_QUERY_BLOCK", 1000)  # several search tasks
    config = load_config(None, ["dedup.exposure_residual=0"])
    images, source = synthetic_images(5000, 0.2, seed=3)
    found = []
    for name, tasks in (("here", None), ("ray", RayTasks())):
        dst = str(tmp_path / name)
        FaceTables(dst, config.resolved_storage(), 1, "synthetic", "synthetic").commit(
            images, S.faces_schema(1).empty_table(), []
        )
        summary = deduplicate(dst, config, tasks=tasks)
        found.append(_groups(dst))
    assert found[0] == found[1] and summary.groups == len(found[1]) > 100
