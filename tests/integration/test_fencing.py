"""Fencing with real jobs, on a folder and on moto's S3: a `facepipe tags add` frozen (SIGSTOP) past its lease,
before or inside its first commit (its checks passed), a `facepipe cluster` that takes the lease over and
commits, then the frozen run resumed (SIGCONT): it exits 4 naming the run that took the library over, and
every table's versions and rows are exactly those the cluster run left."""

from __future__ import annotations

import datetime as dt
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from deltalake import DeltaTable

from pipeline import schema as S
from pipeline.config import Config
from pipeline.io import store
from pipeline.io.lease import read_lease
from pipeline.io.tables import TABLES
from pipeline.io.tags_table import read_tags, record_tags, tags_in_force
from tests.integration.test_one_writer import library_at
from tests.unit.io.test_fence import TAG
from tests.unit.io.test_tags_table import write_library

pytestmark = pytest.mark.timeout(600)
T = TypeVar("T")

# A facepipe command that stops itself (SIGSTOP) at the first call of one function: Fence.confirm (its first
# commit, before its checks) or DeltaTable.merge (inside its first commit, its checks passed)
FROZEN_AT = """
import os, signal, sys
from deltalake import DeltaTable
from jobs.cli import main
from pipeline.io.fence import Fence

owner, name = (Fence, "confirm") if sys.argv[1] == "before-its-checks" else (DeltaTable, "merge")
real = getattr(owner, name)

def frozen(*args, **kwargs):
    setattr(owner, name, real)
    print("frozen", flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)
    return real(*args, **kwargs)

setattr(owner, name, frozen)
sys.exit(main(sys.argv[2:]))
"""


def tables_now(dst: str) -> dict[str, tuple[int, list[str]]]:
    """Each table at DST: its version and its rows (sorted)."""
    options = store.delta_storage_options(dst)
    found = {}
    for name in TABLES:
        try:
            table = DeltaTable(store.join(dst, name), storage_options=options)
        except Exception:  # not written
            continue
        found[name] = (table.version(), sorted(map(repr, table.to_pyarrow_table().to_pylist())))
    return found


def stopped(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] == "T"


def wait_until(done, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def frozen_past_its_lease(dst: str, frozen_at: str, command: list[str], take_over: Callable[[], T]) -> tuple:
    """Run the facepipe ``command`` at ``dst`` frozen (SIGSTOP) at ``frozen_at`` (FROZEN_AT), wait until its lease
    expired, call ``take_over`` (another run that takes the lease over), then resume it (SIGCONT) and let it end.
    Returns its exit code, its stderr and what ``take_over`` returned."""
    frozen = subprocess.Popen(
        [sys.executable, "-c", FROZEN_AT, frozen_at, *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert select.select([frozen.stdout], [], [], 300)[0], "the run never reached its first commit"
        assert frozen.stdout.readline().strip() == "frozen"
        wait_until(lambda: stopped(frozen.pid), 30, "the run did not stop")
        lease = read_lease(dst, None)
        assert lease["pid"] == frozen.pid and not lease["released_at"]
        expires = dt.datetime.fromisoformat(lease["expires_at"])
        wait_until(lambda: dt.datetime.now(dt.timezone.utc) > expires, 30, "its lease did not expire")
        taken = take_over()
        os.kill(frozen.pid, signal.SIGCONT)
        _, err = frozen.communicate(timeout=300)
    finally:
        if frozen.poll() is None:
            frozen.kill()
            frozen.wait()
    return frozen.returncode, err, taken


@pytest.mark.parametrize("frozen_at", ["before-its-checks", "inside-its-commit"])
@pytest.mark.parametrize("where", ["folder", "s3"])
def test_a_run_frozen_past_its_lease_commits_nothing_after_another_took_over(
    where: str, frozen_at: str, tmp_path: Path, request
) -> None:
    dst = library_at(where, f"fencing-{frozen_at}", tmp_path, request)
    storage = Config().resolved_storage()
    write_library(dst, storage, "s3://photos")
    record_tags(dst, TAG, storage)  # the tags table the frozen run commits to
    late_tags = tmp_path / "late.csv"
    late_tags.write_text("face_id,name\npair.jpg-0,Anna\npair.jpg-1,Bob\n")

    def cluster() -> tuple[str, dict]:
        took_over = subprocess.run(
            [sys.executable, "-m", "jobs.cli", "cluster", "--tables", dst],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert took_over.returncode == 0, took_over.stderr[-3000:]
        assert "took over the lease of" in took_over.stderr
        after_cluster = tables_now(dst)
        assert {S.CLUSTERS_TABLE, S.PERSONS_TABLE, S.RUNS_TABLE} <= set(after_cluster)
        return json.loads(took_over.stdout.strip().splitlines()[-1])["run_id"], after_cluster

    command = ["tags", "add", "--tables", dst, "--tags", str(late_tags), "--set", "output.lease_ttl_s=2"]
    code, err, (cluster_run, after_cluster) = frozen_past_its_lease(dst, frozen_at, command, cluster)

    assert code == 4, err[-3000:]
    refusal = err.strip().splitlines()[-1]
    assert refusal.startswith(f"facepipe tags: {dst} was taken over by ") and f"run {cluster_run}" in refusal
    assert tables_now(dst) == after_cluster  # not one commit more: same versions, same rows
    assert tags_in_force(read_tags(dst)) == {"solo.jpg-0": "Carl"}  # the late names never landed
    lease = read_lease(dst, None)
    assert lease["run_id"] == cluster_run and lease["released_at"] and lease["generation"] == 2
