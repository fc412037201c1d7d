"""Plots of verification results: the ROC curve and the genuine / impostor similarity histograms."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pipeline.metrics.verification import roc_curve


def _new_figure() -> Figure:
    # A figure with its own Agg canvas: renders off-screen without touching pyplot's
    # global backend, so it is safe in workers and alongside other plotting code.
    figure = Figure(figsize=(6, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def plot_roc(similarity: np.ndarray, same: np.ndarray, path: str | Path | BinaryIO) -> None:
    """Write a ROC curve PNG to path (a file name or a binary file): TAR against FAR on a log axis,
    titled with the TAR at FAR <= 1e-3."""
    far, tar, _ = roc_curve(similarity, same)
    val = float(tar[far <= 1e-3].max(initial=0.0))
    figure = _new_figure()
    axes = figure.add_subplot()
    shown = far > 0  # a log axis cannot show FAR = 0
    axes.plot(far[shown], tar[shown])
    axes.set_xscale("log")
    axes.set_xlabel("false accept rate")
    axes.set_ylabel("true accept rate")
    axes.set_title(f"ROC, TAR at FAR<=1e-3: {val:.4f}")
    axes.grid(True, which="both", alpha=0.3)
    figure.savefig(path, format="png")


def plot_similarity_histogram(
    similarity: np.ndarray, same: np.ndarray, path: str | Path | BinaryIO, threshold: float | None = None
) -> None:
    """Write a PNG to path (a file name or a binary file) with overlaid histograms of genuine (same) and impostor
    similarities, unscored pairs left out and counted in the legend, and a vertical line
    at threshold when given."""
    similarity = np.asarray(similarity, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    scored = ~np.isnan(similarity)
    bins = np.histogram_bin_edges(similarity[scored], bins=50)
    figure = _new_figure()
    axes = figure.add_subplot()
    for label, group in (("genuine", same), ("impostor", ~same)):
        unscored = np.count_nonzero(group & ~scored)
        axes.hist(
            similarity[group & scored],
            bins=bins,
            alpha=0.5,
            label=f"{label} ({np.count_nonzero(group & scored)} scored, {unscored} unscored)",
        )
    if threshold is not None:
        axes.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3f}")
    axes.set_xlabel("similarity")
    axes.set_ylabel("pairs")
    axes.legend()
    figure.savefig(path, format="png")
