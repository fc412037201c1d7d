"""`facepipe eval lfw` on a slice of the real pairs protocol, `facepipe eval identify` on a few dozen
real people (the full runs are benchmark commands)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from jobs.cli import main

pytestmark = pytest.mark.timeout(420)


def test_eval_lfw_on_sixty_pairs_per_class(lfw_dir: Path, tmp_path: Path, local_ray, capsys):
    lines = (lfw_dir / "pairs.txt").read_text().splitlines()[1:]
    same, different = lines[:60], lines[300:360]  # fold 1's first same and different pairs
    pairs = tmp_path / "pairs_slice.txt"
    pairs.write_text("\n".join(["60", *same, *different]) + "\n")
    code = main(["eval", "lfw", "--lfw-dir", str(lfw_dir), "--pairs", str(pairs), "--output", str(tmp_path / "eval")])
    out = capsys.readouterr().out
    assert code == 0, out
    metrics = json.loads(out.strip().splitlines()[-1])
    assert metrics["pairs"] == 120
    assert metrics["photos_without_face"] == 0 and metrics["unscored_pairs"] == 0
    assert metrics["accuracy"] >= 0.95
    assert 0 <= metrics["val_at_far_0.001"] <= 1
    for plot in ("roc.png", "similarity_histogram.png"):
        assert (tmp_path / "eval" / plot).stat().st_size > 10_000
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text()) == metrics


def test_eval_identify_reports_dir_and_strangers_named_at_the_shipped_calibration(
    lfw_images: Path, tmp_path: Path, local_ray, capsys
):
    people = sorted(p for p in lfw_images.iterdir() if p.is_dir())
    enrollable = [p for p in people if len(list(p.iterdir())) >= 2][:32]  # two photos each
    strangers = [p for p in people if len(list(p.iterdir())) == 1][:20]
    for person in enrollable + strangers:
        (tmp_path / "lfw" / "images" / person.name).mkdir(parents=True)
        for source in sorted(person.iterdir())[:2]:
            shutil.copy(source, tmp_path / "lfw" / "images" / person.name)
    out = tmp_path / "eval"
    code = main(["eval", "identify", "--lfw-dir", str(tmp_path / "lfw"), "--output", str(out), "--draws", "3"])
    output = capsys.readouterr().out
    assert code == 0, output
    metrics = json.loads(output.strip().splitlines()[-1])
    assert metrics["enrolled_people"] == 32 and metrics["photos_without_face"] == 0  # the whole-set figures
    assert "13233 photos" in metrics["calibration"]  # shipped: nothing was calibrated
    ten = metrics["at_fpir"]["gallery_10"]
    assert ten["genuine_probes"] == 30 and ten["stranger_probes"] == 3 * (52 - 10)
    assert ten["fpir_0.001"]["threshold"] > ten["fpir_0.01"]["threshold"]  # fewer strangers named: stricter
    assert ten["fpir_0.01"]["dir"] >= 0.9 and ten["fpir_0.01"]["measured_fpir"] <= 0.05
    assert metrics["at_fpir"]["gallery_100"] is None and metrics["at_fpir"]["gallery_1000"] is None  # 32 people
    thirty = metrics["at_configured_fpir"]
    assert thirty["gallery_people"] == 30 and thirty["stranger_probes"] == 3 * (52 - 30)
    assert thirty["configured_fpir"] == 0.01 and thirty["fpir_0.01"]["threshold"] > ten["fpir_0.01"]["threshold"]
    assert json.loads((out / "identification.json").read_text()) == metrics
