"""`facepipe eval lfw` on a slice of the real pairs protocol (the full run is a benchmark command)."""

from __future__ import annotations

import json
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
