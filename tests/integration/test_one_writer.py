"""One writer per DST with real jobs: two `facepipe tags add` runs released at the same moment on one
DST (a folder, and a prefix on moto's S3) end with one run done, the other refused with exit 3 naming
it, and every tag in the table exactly once; an embed run killed (SIGKILL) while it holds DST blocks the
next run until its lease expires, and is then taken over."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobs.cli import main
from pipeline import schema as S
from pipeline.config import Config
from pipeline.io import store
from pipeline.io.tables import read_table
from tests.integration.test_embed_job import current_photos
from tests.invariants import check_tables
from tests.photos import copy_lfw
from tests.unit.io.test_tags_table import write_library

pytestmark = pytest.mark.timeout(600)

PHOTOS = 12
TAGS = {("solo.jpg-0", "Carl"), ("pair.jpg-0", "Anna"), ("pair.jpg-1", "Bob")}
# A facepipe command that waits, imports done, for a line on stdin: runs started apart are released together.
RELEASED_TOGETHER = """
import sys
from jobs.cli import main
print("ready", flush=True)
sys.stdin.readline()
sys.exit(main(sys.argv[1:]))
"""


def run_together(count: int, *argv: str, timeout: float = 120) -> list[tuple[str, str, int]]:
    """Run the facepipe command ``argv`` ``count`` times at once: (stdout, stderr, exit code) of each,
    waiting ``timeout`` seconds for each."""
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", RELEASED_TOGETHER, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for _ in range(count)
    ]
    for run in runs:
        assert run.stdout.readline().strip() == "ready", run.communicate()[1][-2000:]
    for run in runs:
        run.stdin.write("go\n")
        run.stdin.flush()
    return [(*run.communicate(timeout=timeout), run.returncode) for run in runs]


def library_at(where: str, bucket: str, tmp_path: Path, request) -> str:
    """A DST for the test: a folder, or a prefix in a new bucket on moto's S3 (``where``: folder | s3)."""
    if where == "folder":
        return str(tmp_path / "library")
    import s3fs

    endpoint = request.getfixturevalue("s3_endpoint")
    s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}).mkdir(bucket)
    return f"s3://{bucket}/library"


def lease_of(dst: str) -> dict | None:
    try:
        return json.loads(store.read_bytes(store.join(dst, S.METADATA_FOLDER, "lease.json"), None))
    except FileNotFoundError:
        return None


@pytest.mark.parametrize("where", ["folder", "s3"])
def test_two_concurrent_runs_one_runs_one_exits_3(where: str, tmp_path: Path, request) -> None:
    dst = library_at(where, "one-writer", tmp_path, request)
    write_library(dst, Config().resolved_storage(), "s3://photos")
    tags = tmp_path / "tags.csv"
    tags.write_text("face_id,name\n" + "".join(f"{face},{name}\n" for face, name in sorted(TAGS)))

    ended = run_together(2, "tags", "add", "--tables", dst, "--tags", str(tags))

    assert sorted(code for _, _, code in ended) == [0, 3], [err[-2000:] for _, err, _ in ended]
    (done, _, _), (_, refused, _) = sorted(ended, key=lambda outcome: outcome[2])
    recorded = read_table(dst, S.RUNS_TABLE).to_pylist()
    assert [row[S.EXIT_CODE] for row in recorded] == [0]  # the refused run wrote nothing, not even its row
    refusal = refused.strip().splitlines()[-1]
    assert refusal.startswith(f"facepipe tags: {dst} is being written by ")
    assert recorded[0][S.RUN_ID] in refusal  # it names the run that holds DST
    assert json.loads(done.strip().splitlines()[-1])["added"] == len(TAGS)
    rows = [(row[S.FACE_ID], row[S.NAME]) for row in read_table(dst, S.TAGS_TABLE).to_pylist()]
    assert sorted(rows) == sorted(TAGS)  # every tag once: none lost, none duplicated
    assert lease_of(dst)["released_at"]  # let go


def test_a_killed_run_holds_dst_until_its_lease_expires(tmp_path: Path, lfw_images: Path, local_ray, capsys) -> None:
    photos, dst = tmp_path / "photos", str(tmp_path / "library")
    copy_lfw(lfw_images, photos, PHOTOS, start=300)
    embed = ["embed", "--input", str(photos), "--tables", dst, "--set", "output.lease_ttl_s=4"]
    killed = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", *embed],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while (holder := lease_of(dst)) is None:
        assert killed.poll() is None and time.monotonic() < deadline, "the run never took the lease"
        time.sleep(0.05)
    os.killpg(killed.pid, signal.SIGKILL)  # the run and the Ray it started: nothing lets go of the lease
    killed.wait()
    assert holder["pid"] == killed.pid

    assert main(embed) == 3
    assert holder["run_id"] in capsys.readouterr().err
    expires_in = dt.datetime.fromisoformat(holder["expires_at"]) - dt.datetime.now(dt.timezone.utc)
    time.sleep(max(0.0, expires_in.total_seconds()))

    assert main(embed) == 0
    assert f"photos listed {PHOTOS}" in capsys.readouterr().err
    check_tables(dst, current_photos(photos))
    recorded = read_table(dst, S.RUNS_TABLE).to_pylist()
    assert [row[S.EXIT_CODE] for row in recorded] == [0] and recorded[0][S.RUN_ID] != holder["run_id"]
    assert lease_of(dst)["released_at"]  # let go


@pytest.mark.parametrize("where", ["folder", "s3"])
def test_two_nightly_runs_at_once_one_runs_one_exits_3(where: str, tmp_path: Path, lfw_images: Path, request) -> None:
    photos = tmp_path / "photos"
    copy_lfw(lfw_images, photos, 8, start=400)
    dst = library_at(where, "nightly", tmp_path, request)

    ended = run_together(2, "nightly", "--input", str(photos), "--tables", dst, timeout=480)

    assert sorted(code for _, _, code in ended) == [0, 3], [err[-2000:] for _, err, _ in ended]
    (done, _, _), (_, refused, _) = sorted(ended, key=lambda outcome: outcome[2])
    summary = json.loads(done.strip().splitlines()[-1])
    assert refused.strip().splitlines()[-1].startswith(f"facepipe nightly: {dst} is being written by ")
    assert summary["run_id"] in refused and summary["exit_code"] == 0
    check_tables(dst, current_photos(photos))  # every photo once: none lost, none duplicated
    recorded = read_table(dst, S.RUNS_TABLE).to_pylist()
    assert [(row[S.RUN_ID], row[S.EXIT_CODE]) for row in recorded] == [(summary["run_id"], 0)]
    assert lease_of(dst)["released_at"]  # let go
