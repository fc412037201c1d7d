"""`facepipe train` on a local two-node Ray cluster with its output on S3 (moto's server): two Ray Train
workers, one per node, checkpoint through Ray Train's storage; the driver is killed after a
checkpoint, and the same command resumes from the latest checkpoint and leaves the metrics, the model
pack and the summary on S3."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import s3fs

pytestmark = pytest.mark.timeout(600)

STEPS, CHECKPOINT_EVERY = 12, 2
BUCKET = "train-runs"


@pytest.fixture(scope="module")
def small_lfw(lfw_dir: Path, tmp_path_factory) -> Path:
    """An LFW-format folder of 16 people, 4 photos each: people.txt's set 0 (6 people) is held out,
    with 10 same-person and 10 different-person pairs in pairs.txt; set 1 (10 people) trains."""
    root = tmp_path_factory.mktemp("small-lfw")
    people = [p.name for p in sorted((lfw_dir / "images").iterdir()) if len(list(p.glob("*.jpg"))) >= 4][:16]
    held_out, training = people[:6], people[6:]
    for name in people:
        (root / "images" / name).mkdir(parents=True)
        for photo in sorted((lfw_dir / "images" / name).glob("*.jpg"))[:4]:
            shutil.copy(photo, root / "images" / name)
    sets = [str(len(held_out)), *[f"{n} 4" for n in held_out], str(len(training)), *[f"{n} 4" for n in training]]
    (root / "people.txt").write_text("\n".join(["2", *sets]) + "\n")
    same = [f"{name} 1 {j}" for name in held_out[:5] for j in (2, 3)]
    different = [f"{held_out[i]} 1 {held_out[(i + k) % 6]} 2" for k in (1, 2) for i in range(5)]
    (root / "pairs.txt").write_text("\n".join(["1 10", *same, *different]) + "\n")
    return root


def _command(lfw: Path, output: str, address: str) -> list[str]:
    settings = [
        f"ray.address={address}",
        f"train.lfw={lfw}",
        "train.test_fold=0",
        "train.model=mobilefacenet",
        "train.objective=offline_semi_hard",
        f"train.steps={STEPS}",
        f"train.checkpoint_every={CHECKPOINT_EVERY}",
        "train.mine_every=4",
        "train.mine_people=10",
        "train.mine_faces_per_person=4",
        "train.people_per_batch=4",
        "train.faces_per_person=2",
        "train.eval_every=100",
        "train.learning_rate=0.001",
        "train.workers=2",
        "train.cpus_per_worker=1",
    ]
    return [sys.executable, "-m", "jobs.cli", "train", "--output", output, *[a for s in settings for a in ("--set", s)]]


def _records(fs: s3fs.S3FileSystem, key: str) -> list[dict]:
    return [json.loads(line) for line in fs.cat_file(key).decode().splitlines()]


def test_two_node_training_on_s3_killed_after_a_checkpoint_resumes_from_it(
    s3_endpoint: str, two_nodes, small_lfw: Path, tmp_path: Path
):
    import ray

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint})
    fs.mkdir(BUCKET)
    run = f"{BUCKET}/run"
    command = _command(small_lfw, f"s3://{run}", two_nodes.address)
    with open(tmp_path / "killed.log", "w") as log:
        job = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
    # a worker's report waits for the one before it to be taken: with the third checkpoint's files
    # on S3, Ray Train holds the first one
    third = f"{run}/checkpoints/step-{3 * CHECKPOINT_EVERY:06d}"
    deadline = time.monotonic() + 240
    while not fs.exists(third):
        assert job.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no third checkpoint on S3 within 240 s"
        time.sleep(0.2)
        fs.invalidate_cache()
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    while ray.available_resources().get("CPU", 0) < 2:  # the killed run's workers are gone
        assert time.monotonic() < deadline + 60, "the killed run's workers still hold their CPUs"
        time.sleep(0.2)
    fs.invalidate_cache()
    saved = {int(key.rsplit("step-", 1)[1]) for key in fs.ls(f"{run}/checkpoints") if "/step-" in key}
    assert max(saved) < STEPS and not fs.exists(f"{run}/pack"), "the run ended before it could be killed"

    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    resumed = summary["resumed_from_step"]
    assert resumed >= CHECKPOINT_EVERY and resumed in saved, (resumed, saved)
    assert summary["steps"] == STEPS and summary["workers"] == 2 and summary["output"] == f"s3://{run}"
    assert json.loads(fs.cat_file(f"{run}/summary.json")) == summary

    records = _records(fs, f"{run}/metrics.jsonl")
    assert [r["step"] for r in records if "loss" in r] == list(range(1, STEPS + 1))  # none redone, none lost
    assert [r["step"] for r in records if "eval" in r] == [0, STEPS]
    assert summary["held_out_after"] == records[-1]["eval"] and records[-1]["eval"]["pairs"] == 20
    # the steps up to the checkpoint resumed from are the killed run's, as that checkpoint holds them
    before = _records(fs, f"{run}/checkpoints/step-{resumed:06d}/metrics.jsonl")
    assert records[: len(before)] == before and before[-1]["step"] == resumed

    manifest = json.loads(fs.cat_file(f"{run}/pack/facepipe-model.json"))
    assert manifest["info"]["steps"] == STEPS
    assert hashlib.sha256(fs.cat_file(f"{run}/pack/{manifest['weights']}")).hexdigest() == manifest["sha256"]
    assert fs.exists(f"{run}/checkpoints/step-{STEPS:06d}/pack/facepipe-model.json")
    mined = sorted(fs.glob(f"{run}/triplets/step-*.parquet"))
    assert mined, "no offline mining's triplets on S3"
    with fs.open(mined[-1]) as handle:
        triplets = pq.read_table(handle)
    assert triplets.column_names == ["anchor", "positive", "negative", "d_ap", "d_an", "step"]
    assert triplets.num_rows > 0
