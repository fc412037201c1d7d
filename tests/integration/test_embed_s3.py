"""`facepipe embed` with input and output both on a real S3 endpoint (moto's server)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import s3fs

from pipeline.config import StorageConfig
from tests.invariants import check_tables
from tests.photos import copy_lfw, lfw_face, write_bad_inputs

pytestmark = pytest.mark.timeout(420)


def run_embed_cli(src: str, dst: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "jobs.cli",
        "embed",
        "--input",
        src,
        "--tables",
        dst,
        "--set",
        "output.commit_every=10",
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=360, env=dict(os.environ))


def test_embed_s3_to_s3_incremental(s3_endpoint: str, tmp_path: Path, lfw_images: Path):
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint})
    fs.mkdir("photos")
    fs.mkdir("tables")
    local = tmp_path / "photos"
    copy_lfw(lfw_images, local, 20, start=500)
    write_bad_inputs(local / "bad", lfw_face(lfw_images))
    fs.put(str(local) + "/", "photos/library/", recursive=True)

    def photos() -> dict[str, bytes]:
        return {f"s3://{key}": fs.cat_file(key) for key in fs.find("photos/library")}

    storage = StorageConfig(endpoint_url=s3_endpoint)
    done = run_embed_cli("s3://photos/library", "s3://tables/faces-run")
    assert done.returncode == 0, done.stderr[-3000:]
    current = photos()
    assert f"photos listed {len(current)}: new {len(current)}" in done.stderr  # stdout holds the JSON
    images, _ = check_tables("s3://tables/faces-run", current, storage)
    assert images["s3://photos/library/bad/not_an_image.jpg"]["error"].startswith("not_an_image:")
    assert fs.exists("tables/faces-run/_facepipe/latest.json")

    keys = sorted(k for k in fs.find("photos/library") if "/bad/" not in k)
    fs.rm(keys[0])
    fs.pipe(keys[1], (lfw_images / "Zico" / "Zico_0001.jpg").read_bytes())
    fs.put(str(lfw_images / "Zico" / "Zico_0002.jpg"), "photos/library/new/Zico_0002.jpg")
    done = run_embed_cli("s3://photos/library", "s3://tables/faces-run")
    assert done.returncode == 0, done.stderr[-3000:]
    current = photos()
    assert "new 1, changed 1" in done.stderr and "removed 1" in done.stderr  # the summary; stdout holds the JSON
    check_tables("s3://tables/faces-run", current, storage)
