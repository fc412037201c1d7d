"""The wheel: the library (pipeline) and its CLI (jobs) with their data files and the models' entry
points, and nothing else (benchmarks and tests run from a checkout)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_the_wheel_installs_pipeline_and_jobs_only(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("facepipe-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"pipeline", "jobs", wheel.name.split("-py")[0] + ".dist-info"}
    assert any(name.startswith("pipeline/similarity/calibrations/") for name in names)  # the shipped FAR curves
    assert any(name.startswith("pipeline/tags/priors/") for name in names)  # the shipped score tables
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "[facepipe.embedders]" in entry_points and "sface = pipeline.models.builtin:sface" in entry_points
    assert "facepipe = jobs.cli:main" in entry_points
