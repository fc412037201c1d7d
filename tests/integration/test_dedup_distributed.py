"""The pair search of `facepipe dedup` as Ray tasks on a local two-node cluster finds the groups one
process finds, and the read-back of candidate edited copies as Ray tasks says what one process says."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.dedup_scale import synthetic_images
from pipeline import schema as S
from pipeline.config import load_config
from pipeline.dedup import candidates, edits
from pipeline.dedup.dedup_job import deduplicate
from pipeline.dedup.edits import compare_pairs
from pipeline.ingest.chain import PhotoChain
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


def test_edited_copies_read_back_as_ray_tasks_as_in_one_process(
    two_nodes, lfw_images: Path, tmp_path: Path, monkeypatch
):
    photo = cv2.cvtColor(cv2.imread(str(lfw_images / "Tony_Blair/Tony_Blair_0001.jpg")), cv2.COLOR_BGR2RGB)
    other = cv2.cvtColor(cv2.imread(str(lfw_images / "Colin_Powell/Colin_Powell_0001.jpg")), cv2.COLOR_BGR2RGB)
    bar = np.full((60, 250, 3), 255, np.uint8)
    uris = []
    for k, pixels in enumerate([photo, photo[30:210, 60:240], np.vstack([bar, photo]), other]):
        uris.append(str(tmp_path / f"{k}.png"))
        cv2.imwrite(uris[-1], cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
    pairs = [(0, 1), (0, 2), (1, 2), (0, 3), (2, 3)]
    monkeypatch.setattr(edits, "CHUNK", 2)  # three tasks
    chain = PhotoChain.of(load_config())
    here, there = (compare_pairs(pairs, uris, chain, tasks) for tasks in (None, RayTasks()))
    assert [(c.verdict, c.original, c.edits) for c in there] == [(c.verdict, c.original, c.edits) for c in here]
    assert [c.verdict for c in there] == ["copy", "copy", "copy", "unrelated", "unrelated"]
