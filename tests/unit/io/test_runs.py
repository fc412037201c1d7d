"""The runs table: one row per run, its steps with status, seconds and counts, read back through read_table."""

from __future__ import annotations

import json

import pytest

from pipeline import schema as S
from pipeline.config import load_config
from pipeline.io.runs import RUNS_TABLE, RunRecorder
from pipeline.io.tables import read_table


def test_each_run_appends_one_row_with_its_steps(tmp_path) -> None:
    dst, config = str(tmp_path / "library"), load_config()
    first = RunRecorder(dst, None, "facepipe nightly --output lib", config)
    with first.step("embed") as counts:
        counts.update(listed=12, new=3, stages={"read": 1.5}, refused=[{"line": 2}], models_ok=True)
    first.skip("index", "no face added or removed")
    with pytest.raises(RuntimeError), first.step("cluster") as counts:
        counts["faces"] = 40
        raise RuntimeError("out of memory")
    first.finish(1)
    second = RunRecorder(dst, None, "facepipe cluster --tables lib", load_config(overrides=["cluster.method=hdbscan"]))
    second.finish(0)

    rows = {row[S.RUN_ID]: row for row in read_table(dst, RUNS_TABLE).to_pylist()}

    assert set(rows) == {first.run_id, second.run_id} and first.run_id != second.run_id
    row = rows[first.run_id]
    assert (row[S.COMMAND], row[S.EXIT_CODE]) == ("facepipe nightly --output lib", 1)
    steps = [(step[S.STEP_NAME], step[S.STEP_STATUS], json.loads(step[S.STEP_COUNTS])) for step in row[S.STEPS]]
    assert steps == [
        ("embed", "ok", {"listed": 12, "new": 3, "models_ok": True}),  # lists and mappings left out
        ("index", "skipped", {"why": "no face added or removed"}),
        ("cluster", "failed", {"faces": 40}),
    ]
    assert all(step[S.STEP_SECONDS] >= 0 for step in row[S.STEPS])
    assert row[S.STARTED_AT] <= row[S.ENDED_AT] and row[S.HOST]
    versions = json.loads(row[S.VERSIONS])
    assert versions["facepipe"] and versions["deltalake"] and versions["ray"]
    assert versions["models"] == {"detector": "yunet", "embedder": "sface"}
    assert rows[second.run_id][S.STEPS] == [] and rows[second.run_id][S.EXIT_CODE] == 0
    assert rows[second.run_id][S.CONFIG_HASH] != row[S.CONFIG_HASH]
    assert RunRecorder(dst, None, "again", load_config()).config_hash == row[S.CONFIG_HASH]
