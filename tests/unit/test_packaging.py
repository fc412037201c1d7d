"""The wheel: the library (pipeline) and its CLI (jobs) with their data files and the models' entry
points, and nothing else (benchmarks and tests run from a checkout)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_the_wheel_installs_pipeline_and_jobs_only(tmp_path: Path) -> None:
    source, wheels = tmp_path / "source", tmp_path / "wheels"  # a copy: building writes build/ beside the sources
    shutil.copytree(
        REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "site", "__pycache__", "*.egg-info")
    )
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "-w", str(wheels), str(source)], check=True, timeout=300)
    [wheel] = wheels.glob("facepipe-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"pipeline", "jobs", wheel.name.split("-py")[0] + ".dist-info"}
    assert any(name.startswith("pipeline/similarity/calibrations/") for name in names)  # the shipped FAR curves
    assert any(name.startswith("pipeline/tags/priors/") for name in names)  # the shipped score tables
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "[facepipe.embedders]" in entry_points and "sface = pipeline.models.builtin:sface" in entry_points
    assert "facepipe = jobs.cli:main" in entry_points
