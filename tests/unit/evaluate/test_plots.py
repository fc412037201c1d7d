"""Verification plots are written as PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.evaluate.plots import plot_roc, plot_similarity_histogram
from tests.scores import gaussian_pairs


def test_plots_write_png_files(tmp_path: Path) -> None:
    similarity, same, _ = gaussian_pairs(seed=5, folds=1, per_class=500, genuine_mean=2.5)
    similarity[:4] = np.nan
    roc_path, histogram_path = tmp_path / "roc.png", tmp_path / "histogram.png"
    plot_roc(similarity, same, roc_path)
    plot_similarity_histogram(similarity, same, histogram_path, threshold=1.2)
    for path in (roc_path, histogram_path):
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
