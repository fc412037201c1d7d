"""Open-set identification at a target FPIR on seeded face-like embeddings: a curve calibrated on some
people names the expected share of other people's strangers."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.evaluate.open_set import identification_at_fpir, identification_report
from pipeline.evaluate.synthetic import face_like_embeddings
from pipeline.metrics.far_curve import all_pair_counts, far_curve_points
from pipeline.similarity.far_curves import FarCurve
from pipeline.similarity.thresholds import identification_threshold


def _people(seed: int, identities: int) -> tuple[dict[str, list[str]], dict[str, np.ndarray]]:
    data = face_like_embeddings(identities, faces_per_identity=(1, 4), seed=seed)
    photos_of: dict[str, list[str]] = {}
    embeddings = {}
    for i, (vector, label) in enumerate(zip(data.vectors, data.labels)):
        photos_of.setdefault(f"p{label}", []).append(f"photo{i}")
        embeddings[f"photo{i}"] = vector
    return photos_of, embeddings


@pytest.fixture(scope="module")
def curve() -> FarCurve:
    """Measured on all pairs of 2,000 people other than those identified below."""
    data = face_like_embeddings(2000, faces_per_identity=(1, 2), seed=1)
    points = far_curve_points(*all_pair_counts(data.vectors, data.labels))
    return FarCurve("synthetic", *(np.array(points[key]) for key in ("fars", "thresholds", "tars")), "seed 1")


def test_strangers_are_named_at_the_configured_rate_whatever_the_gallery_size(curve: FarCurve) -> None:
    photos_of, embeddings = _people(seed=2, identities=3000)
    rng = np.random.default_rng(0)
    for size in (10, 100):
        found = identification_at_fpir(photos_of, embeddings, curve, size, (0.05,), 4, rng)
        assert found["gallery_people"] == size and found["genuine_probes"] == 4 * size
        assert found["stranger_probes"] == 4 * (len(photos_of) - size)  # every other person, once a draw
        at = found["fpir_0.05"]
        assert at["threshold"] == identification_threshold(curve, size, 0.05)
        assert at["measured_fpir"] == pytest.approx(0.05, abs=0.015), at  # the curve's people are others
        assert at["strangers_named"] == round(at["measured_fpir"] * found["stranger_probes"])
        assert at["dir"] >= 0.8


def test_the_report_leaves_out_galleries_the_set_cannot_fill_and_caps_the_strangers(curve: FarCurve) -> None:
    photos_of, embeddings = _people(seed=3, identities=400)
    report = identification_report(photos_of, embeddings, curve, 0.01, seed=0, draws=2)
    assert report["calibration"] == "seed 1"
    assert report["at_fpir"]["gallery_1000"] is None and report["at_fpir"]["gallery_100"]["draws"] == 2
    assert set(report["at_fpir"]["gallery_10"]) >= {"fpir_0.01", "fpir_0.001", "rank1"}
    configured = report["at_configured_fpir"]
    assert configured["gallery_people"] == 30 and configured["stranger_probes"] == 2 * (400 - 30)
    assert configured["configured_fpir"] == 0.01
    assert configured["measured_over_configured"] == pytest.approx(configured["fpir_0.01"]["measured_fpir"] / 0.01)
