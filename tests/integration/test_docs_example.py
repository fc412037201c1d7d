"""The Python API example of the docs (docs/examples/python_api.py) runs as written, on LFW photos with a
copy among them, and says what it found."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.timeout(600)


def test_the_python_api_example_runs(lfw_images: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for person in ("Colin_Powell", "Tony_Blair", "Donald_Rumsfeld"):
        for number in (1, 2, 3, 4):
            shutil.copy(lfw_images / person / f"{person}_{number:04d}.jpg", photos)
    shutil.copy(photos / "Tony_Blair_0002.jpg", photos / "Tony_Blair_0002 (1).jpg")
    done = subprocess.run(
        [sys.executable, str(REPO / "docs" / "examples" / "python_api.py"), str(photos), str(tmp_path / "faces-out")],
        capture_output=True,
        text=True,
        timeout=540,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("embed: 13 photos read")
    assert any(line.startswith("cluster: 3 people") for line in lines), lines
    assert "dedup: 1 groups of copies" in done.stdout
    assert sum(line.startswith("duplicate group") for line in lines) == 2
    ran = [line for line in lines if line.startswith("run ")]
    assert [line.split(": ", 1)[1].split("(")[0] for line in ran] == [
        "pipeline.embed",
        "pipeline.cluster",
        "pipeline.deduplicate",
    ]
    assert all(line.endswith("-> exit 0") for line in ran)
