"""Progress bars: shown on a terminal (or when asked), never off it by default, never when quiet; the
jobs' bars count what they did."""

from __future__ import annotations

import time

import numpy as np

from pipeline.progress import Progress, shown
from pipeline.search.knn_graph import knn_graph


def test_a_bar_counts_to_its_total_with_rate_and_figures(capsys) -> None:
    with shown(True), Progress("embed", 3, "photo") as bar:
        for step in range(3):
            time.sleep(0.15)  # a bar redraws at most every 0.1 s
            bar.advance(1, step=step)
    printed = capsys.readouterr().err
    assert "embed" in printed and "3/3" in printed and "photo/s" in printed and "step=2" in printed


def test_no_bar_off_a_terminal_nor_when_quiet(capsys) -> None:
    with Progress("embed", 3, "photo") as bar:  # pytest's stderr is no terminal
        bar.advance(3)
    with shown(False), Progress("embed", 3, "photo") as bar:
        bar.advance(3)
    assert capsys.readouterr().err == ""


def test_the_knn_graph_shows_the_faces_it_searched(capsys) -> None:
    vectors = np.random.default_rng(0).normal(size=(500, 16)).astype(np.float32)
    with shown(True):
        knn_graph(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), 5)
    printed = capsys.readouterr().err
    assert "kNN graph: faces searched" in printed and "0/500 [" in printed
