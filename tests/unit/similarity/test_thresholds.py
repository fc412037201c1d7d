"""Similarities stated on the reference model's scale, carried to another model at equal false-accept rate
through the FAR curves; a model without a curve refused; a collection's own different-person level."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import ConfigError
from pipeline.models.catalog import model_file_stem, model_id, packaged_model_file
from pipeline.similarity.far_curves import SHIPPED, CalibrationStore
from pipeline.similarity.thresholds import (
    REFERENCE_MODEL,
    carried_margin,
    carried_threshold,
    collection_threshold,
    different_person_level,
)

STATED = {"tags.similarity": 0.5, "tags.direct_similarity": 0.45, "tags.pass_on": 0.55, "tags.odd_one_out": 0.35}


def shifted_calibrations(folder: Path, model: str, by: float) -> CalibrationStore:
    """A calibrations folder where ``model``'s curve is the reference model's moved up by ``by``."""
    record = json.loads((SHIPPED / (model_file_stem(REFERENCE_MODEL) + ".json")).read_text())
    record["model"] = model
    record["curve"]["thresholds"] = [t + by for t in record["curve"]["thresholds"]]
    folder.mkdir(exist_ok=True)
    (folder / (model_file_stem(model) + ".json")).write_text(json.dumps(record))
    return CalibrationStore(str(folder))


def test_the_reference_model_is_the_packaged_default() -> None:
    assert model_id("sface", packaged_model_file("sface")) == REFERENCE_MODEL


def test_the_reference_model_keeps_the_values_exactly(tmp_path: Path) -> None:
    calibrations = shifted_calibrations(tmp_path, REFERENCE_MODEL, 0.1)  # its own calibration changes nothing
    for setting, value in STATED.items():
        threshold = carried_threshold(calibrations, REFERENCE_MODEL, value, setting)
        assert threshold.value == value and "as configured" in threshold.source
    assert carried_margin(calibrations, REFERENCE_MODEL, 0.1, 0.5, "tags.margin").value == 0.1


def test_another_model_gets_the_thresholds_at_the_same_false_accept_rates(tmp_path: Path) -> None:
    """A model whose curve is the reference's moved up by 0.1 gets every threshold 0.1 higher, and every
    margin as wide."""
    calibrations = shifted_calibrations(tmp_path, "other", 0.1)
    for setting, value in STATED.items():
        threshold = carried_threshold(calibrations, "other", value, setting)
        assert threshold.value == pytest.approx(value + 0.1, abs=2e-3), setting
        assert threshold.source.startswith(f"{setting} {value:g} carried from {REFERENCE_MODEL} at equal FAR")
    beyond = carried_threshold(calibrations, "other", 0.6, "tags.same_person")
    assert beyond.value == pytest.approx(0.5942 + 0.1, abs=1e-3)  # beyond the curve: its last point
    assert carried_margin(calibrations, "other", 0.1, 0.5, "tags.margin").value == pytest.approx(0.1, abs=2e-3)
    # next to a similarity beyond the curve, the margin is measured just below its strictest point
    assert carried_margin(calibrations, "other", 0.1, 0.6, "tags.closer_by").value == pytest.approx(0.1, abs=2e-3)


def test_a_steeper_model_gets_wider_margins(tmp_path: Path) -> None:
    """A model whose thresholds spread twice as far between two FARs gets margins twice as wide."""
    record = json.loads((SHIPPED / (model_file_stem(REFERENCE_MODEL) + ".json")).read_text())
    record["curve"]["thresholds"] = [2 * t for t in record["curve"]["thresholds"]]
    (tmp_path / "steep.json").write_text(json.dumps(record))
    calibrations = CalibrationStore(str(tmp_path))
    assert carried_threshold(calibrations, "steep", 0.45, "dedup.same_person").value == pytest.approx(0.9, abs=2e-3)
    assert carried_margin(calibrations, "steep", 0.1, 0.5, "tags.margin").value == pytest.approx(0.2, abs=2e-3)


def test_the_reference_scale_is_its_shipped_curve_whatever_the_user_calibrated_on_it(tmp_path: Path) -> None:
    calibrations = shifted_calibrations(tmp_path, "other", 0.1)
    before = carried_threshold(calibrations, "other", 0.45, "tags.direct_similarity").value
    shifted_calibrations(tmp_path, REFERENCE_MODEL, 0.2)
    assert carried_threshold(calibrations, "other", 0.45, "tags.direct_similarity").value == before


def test_a_model_without_a_curve_is_refused_never_given_the_reference_values(tmp_path: Path) -> None:
    calibrations = CalibrationStore(str(tmp_path))
    with pytest.raises(ConfigError, match=r"dedup.same_person \(0.5\).*model uncalibrated has no FAR curve"):
        carried_threshold(calibrations, "uncalibrated", 0.5, "dedup.same_person")
    with pytest.raises(ConfigError, match="facepipe calibrate --lfw-dir DIR --all-pairs"):
        carried_margin(calibrations, "uncalibrated", 0.1, 0.6, "tags.closer_by")


def test_a_collection_level_is_the_median_similarity_of_pairs_of_different_groups() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 32))
    faces = np.repeat(centres, 50, axis=0) + rng.normal(scale=0.1, size=(100, 32))
    faces /= np.linalg.norm(faces, axis=1, keepdims=True)
    groups = np.repeat([0, 1], 50)
    between = float(np.median(faces[:50] @ faces[50:].T))
    level, pairs = different_person_level(faces, groups)
    assert level == pytest.approx(between, abs=1e-6) and pairs == 50 * 50, "few faces: every pair, exactly"
    assert different_person_level(faces)[0] > level  # pairs of one group raise the median
    assert different_person_level(faces, np.zeros(100, int)) == (0.0, 0)  # one group: no pair left
    assert collection_threshold(level, 0.38) == level + 0.38


def test_a_large_collection_level_is_sampled() -> None:
    rng = np.random.default_rng(1)
    faces = rng.normal(size=(1000, 16))
    faces /= np.linalg.norm(faces, axis=1, keepdims=True)
    level, pairs = different_person_level(faces)
    exact = np.median((faces @ faces.T)[np.triu_indices(1000, 1)])
    assert level == pytest.approx(exact, abs=0.003) and 199_000 < pairs <= 200_000, "200,000 random pairs"
