"""`eval lfw` leaves its figures and plots where its output is: a folder or an s3:// prefix."""

from __future__ import annotations

import json
from pathlib import Path

import fsspec
import pytest

from pipeline.config import load_config
from pipeline.evaluate import lfw
from pipeline.io.readers import LfwPair
from tests.scores import gaussian_pairs


@pytest.mark.parametrize("where", ["folder", "s3"])
def test_verification_metrics_and_plots_land_in_the_output(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    if where == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        fs = fsspec.filesystem("s3", client_kwargs={"endpoint_url": endpoint})
        fs.mkdir("eval-runs")
        output, root = "s3://eval-runs/lfw", "eval-runs/lfw"
    else:
        fs = fsspec.filesystem("file")
        output = root = str(tmp_path / "lfw")
    similarity, same, folds = gaussian_pairs(seed=3, folds=10, per_class=20, genuine_mean=2.5)
    pairs = [LfwPair(int(fold), bool(s), "A/A_0001.jpg", "B/B_0001.jpg") for fold, s in zip(folds, same)]
    # the similarities come from the embed job (tested with it); checked here: where the results go
    monkeypatch.setattr(lfw, "lfw_pair_similarities", lambda *args, **kwargs: (pairs, similarity, {"model": "m"}))

    metrics = lfw.evaluate_lfw("lfw", output, load_config())

    assert metrics["pairs"] == len(pairs) and metrics["accuracy"] > 0.8
    assert json.loads(fs.cat_file(f"{root}/metrics.json")) == metrics
    for name in ("roc.png", "similarity_histogram.png"):
        assert fs.cat_file(f"{root}/{name}").startswith(b"\x89PNG\r\n\x1a\n")
