"""The RayJob manifest's entrypoint, run for real: `ray start --head` here, then the exact entrypoint
string of infra/k8s/base/rayjob.yaml submitted with `ray job submit` on a few dozen LFW photos, twice:
both runs succeed and the second adds no row."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from pipeline import schema as S
from pipeline.io.tables import read_table
from tests.conftest import REPO, _free_port

pytestmark = pytest.mark.timeout(900)

BIN = Path(sys.executable).parent
# a throwaway head on this machine: Ray's token authentication off for it and the `ray job` commands
RAY_ENV = {**os.environ, "RAY_ADDRESS": "", "RAY_AUTH_MODE": "disabled", "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
PEOPLE = ["Colin_Powell", "Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder"]


def entrypoint() -> str:
    manifest = yaml.safe_load((REPO / "infra" / "k8s" / "base" / "rayjob.yaml").read_text())
    return manifest["spec"]["entrypoint"]


@pytest.fixture
def ray_head(tmp_path: Path):
    """A Ray head on this machine (`ray start --head --block`, with the dashboard's job server) on free
    ports; its process group stopped after the test (`ray stop` would stop every Ray here)."""
    gcs, dashboard = _free_port(), _free_port()
    scratch = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths live under it
    log = tmp_path / "ray-head.log"
    with open(log, "w") as output:
        head = subprocess.Popen(
            [str(BIN / "ray"), "start", "--head", "--block", f"--port={gcs}", "--num-cpus=2"]
            + [f"--dashboard-port={dashboard}", "--include-dashboard=true", f"--temp-dir={scratch}"],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=RAY_ENV,
            start_new_session=True,
        )
    address = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.monotonic() + 180
        trivial = [str(BIN / "ray"), "job", "submit", "--address", address, "--", "true"]
        while subprocess.run(trivial, capture_output=True, env=RAY_ENV).returncode:
            assert head.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(2)
        yield address
    finally:
        if head.poll() is None:
            os.killpg(head.pid, signal.SIGTERM)
            try:
                head.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(head.pid, signal.SIGKILL)
        shutil.rmtree(scratch, ignore_errors=True)


def submit(address: str, env_vars: dict) -> subprocess.CompletedProcess:
    """`ray job submit -- <the manifest's entrypoint>` through bash, with ``env_vars`` in its environment:
    as KubeRay's submitter pod runs it (the entrypoint pasted into the command line, so its
    "$FACEPIPE_INPUT" and the like are the pod's environment)."""
    return subprocess.run(
        ["bash", "-c", f"ray job submit --address {address} -- {entrypoint()}"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**RAY_ENV, **env_vars},
    )


def test_the_manifest_entrypoint_runs_twice_and_the_second_adds_nothing(ray_head, lfw_images: Path, tmp_path):
    src, dst = tmp_path / "photos", tmp_path / "library"
    src.mkdir()
    for person in PEOPLE:
        for number in range(1, 7):
            shutil.copy(lfw_images / person / f"{person}_{number:04d}.jpg", src)
    env_vars = {
        "FACEPIPE_INPUT": str(src),
        "FACEPIPE_OUTPUT": str(dst),
        "FACEPIPE_CONFIG": str(REPO / "configs" / "nightly.yaml"),  # the image's copy of configs/ lives elsewhere
    }
    first = submit(ray_head, env_vars)
    assert first.returncode == 0 and "succeeded" in first.stderr + first.stdout, (first.stdout[-3000:], first.stderr)
    images = read_table(str(dst), S.IMAGES_TABLE)
    faces = read_table(str(dst), S.FACES_TABLE)
    assert images.num_rows == 24

    second = submit(ray_head, env_vars)
    assert second.returncode == 0 and "succeeded" in second.stderr + second.stdout, second.stdout[-3000:]
    assert read_table(str(dst), S.IMAGES_TABLE).num_rows == 24 and read_table(str(dst), S.FACES_TABLE).equals(faces)
    runs = read_table(str(dst), S.RUNS_TABLE).to_pylist()
    assert len(runs) == 2 and all(r["exit_code"] == 0 for r in runs)
    last = max(runs, key=lambda r: r["started_at"])
    assert {s["name"]: s["status"] for s in last["steps"]}["embed"] == "skipped"
