"""Thresholds calibrated at a target false-accept rate, stored per model and FAR; FAR curves (the user's
over the shipped one) and thresholds at a false-positive identification rate (the threshold service's
verify and identify answers)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import ConfigError
from pipeline.metrics.far_curve import far_curve_points, pair_counts
from pipeline.models.catalog import model_id, packaged_model_file
from pipeline.similarity.far_curves import SHIPPED, CalibrationStore, FarCurve
from pipeline.similarity.thresholds import (
    gallery_threshold,
    identification_threshold,
    threshold_from_pairs,
    verification_threshold,
)

CURVE = FarCurve(
    "m", np.array([1e-2, 1e-3, 1e-4]), np.array([0.30, 0.36, 0.42]), np.array([0.99, 0.98, 0.95]), "made up"
)


def _pairs(seed: int = 0, same: int = 2000, different: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.normal(0.6, 0.1, same), rng.normal(0.05, 0.1, different)])
    return scores, np.concatenate([np.ones(same, bool), np.zeros(different, bool)])


def test_calibrated_threshold_lets_through_at_most_the_target_share_of_impostors() -> None:
    similarity, same = _pairs()
    for far in (1e-2, 1e-3):
        result = threshold_from_pairs(similarity, same, far)
        impostors = similarity[~same]
        assert np.mean(impostors >= result["threshold"]) <= far
        assert result["measured_far"] == pytest.approx(np.mean(impostors >= result["threshold"]))
        # the threshold is as low as the target allows: one impostor more would pass just below it
        assert np.mean(impostors >= np.sort(impostors)[::-1][int(far * len(impostors))]) > far
        assert result["tar"] == pytest.approx(np.mean(similarity[same] >= result["threshold"]))


def test_too_few_impostor_pairs_cannot_calibrate_a_small_far() -> None:
    similarity, same = _pairs(different=500)
    with pytest.raises(ConfigError, match="at least 1000"):
        threshold_from_pairs(similarity, same, 1e-3)


def _save(calibrations: CalibrationStore, model: str, similarity: np.ndarray, same: np.ndarray, far: float) -> None:
    curve = far_curve_points(*pair_counts(similarity, same))
    calibrations.save(model, curve, "synthetic", "test", threshold=threshold_from_pairs(similarity, same, far))


def _verify_at(calibrations: CalibrationStore, model: str, far: float = 1e-3) -> float:
    return verification_threshold(calibrations, model, far).value


def test_thresholds_are_stored_per_model_and_far_and_missing_ones_say_so(tmp_path: Path) -> None:
    calibrations = CalibrationStore(str(tmp_path / "cal"))
    with pytest.raises(ConfigError, match="no threshold calibrated at FAR 0.001.*facepipe calibrate"):
        _verify_at(calibrations, "sface:model@abc")
    similarity, same = _pairs()
    _save(calibrations, "sface:model@abc", similarity, same, 1e-3)
    _save(calibrations, "sface:model@abc", similarity, same, 1e-2)
    assert _verify_at(calibrations, "sface:model@abc") == threshold_from_pairs(similarity, same, 1e-3)["threshold"]
    assert (
        "calibrated for sface:model@abc at FAR 0.001 on synthetic"
        in verification_threshold(calibrations, "sface:model@abc", 1e-3).source
    )
    looser = _verify_at(calibrations, "sface:model@abc", 0.01)
    assert looser < _verify_at(calibrations, "sface:model@abc")
    # no threshold at 0.03: read from the curve of the same 3,000 different pairs, between its neighbours
    assert looser > _verify_at(calibrations, "sface:model@abc", 0.03)
    with pytest.raises(ConfigError, match=r"calibrated: 0.001, 0.01\).*below the smallest FAR \(0.001\)"):
        _verify_at(calibrations, "sface:model@abc", 0.0001)
    with pytest.raises(ConfigError, match="calibrated: none"):
        _verify_at(calibrations, "sface:model@def")


def test_threshold_at_interpolates_in_log_far_and_never_invents_a_smaller_far() -> None:
    assert CURVE.threshold_at(1e-3) == pytest.approx(0.36)
    assert CURVE.threshold_at(10**-3.5) == pytest.approx(0.39)  # halfway in log FAR
    assert CURVE.threshold_at(0.5) == pytest.approx(0.30)  # above the curve: its strictest end
    with pytest.raises(ConfigError, match="FAR 5e-05 is below the smallest FAR \\(0.0001\\) calibrated for m"):
        CURVE.threshold_at(5e-5)


def test_far_at_inverts_threshold_at_and_clips_to_the_measured_range() -> None:
    assert CURVE.far_at(0.39) == pytest.approx(10**-3.5)
    assert CURVE.far_at(CURVE.threshold_at(2e-3)) == pytest.approx(2e-3)
    np.testing.assert_allclose(CURVE.far_at(np.array([0.0, 0.36, 0.9])), [1e-2, 1e-3, 1e-4])


def test_identification_threshold_names_a_stranger_with_probability_fpir() -> None:
    # one person: the per-person FAR is the FPIR itself
    assert identification_threshold(CURVE, 1, 1e-2) == pytest.approx(0.30)
    # 10 people: a stranger passes one of 10 independent templates with probability 1 - (1 - far) ** 10
    far = 1 - 0.99 ** (1 / 10)
    assert 1 - (1 - far) ** 10 == pytest.approx(0.01)
    assert identification_threshold(CURVE, 10, 1e-2) == pytest.approx(CURVE.threshold_at(far))
    assert identification_threshold(CURVE, 100, 1e-2) > identification_threshold(CURVE, 10, 1e-2)
    with pytest.raises(ConfigError, match="a gallery of 1000 people at FPIR 0.01 needs FAR 1.01e-05 per person"):
        identification_threshold(CURVE, 1000, 1e-2)
    with pytest.raises(ConfigError, match="empty"):
        identification_threshold(CURVE, 0, 1e-2)


def test_the_default_model_has_a_shipped_curve_that_a_user_calibration_overrides(tmp_path: Path) -> None:
    default = model_id("sface", packaged_model_file("sface"))
    calibrations = CalibrationStore(str(tmp_path / "cal"))
    shipped = calibrations.curve(default)
    recorded = json.loads((SHIPPED / (default.replace(":", "_") + ".json")).read_text())["curve"]
    assert recorded["different_pairs"] > 80_000_000 and "13233 photos" in shipped.source
    assert shipped.fars[-1] == 1e-6 and np.all(np.diff(shipped.thresholds) > 0)
    assert _verify_at(calibrations, default) == pytest.approx(recorded["thresholds"][recorded["fars"].index(1e-3)])
    assert shipped.source in verification_threshold(calibrations, default, 1e-3).source

    similarity, same = _pairs()
    _save(calibrations, default, similarity, same, 1e-3)
    mine = calibrations.curve(default)
    assert mine.source == "synthetic" and mine.fars[-1] == 1e-3  # 3e-4 of 3,000 different pairs is 0.9 of a pair
    assert _verify_at(calibrations, default) == threshold_from_pairs(similarity, same, 1e-3)["threshold"]
    with pytest.raises(ConfigError, match="needs FAR 3.35e-05 per person.*below the smallest FAR \\(0.001\\)"):
        identification_threshold(mine, 300, 1e-2)
    with pytest.raises(ConfigError, match="needs FAR 3.35e-05 per person"):
        gallery_threshold(calibrations, default, 300, 1e-2)
    at_ten = gallery_threshold(calibrations, default, 10, 0.04)
    assert at_ten.value == identification_threshold(mine, 10, 0.04) and "FPIR 0.04 against 10 people" in at_ten.source


def test_a_model_without_a_curve_is_refused_with_the_command_that_calibrates_it(tmp_path: Path) -> None:
    calibrations = CalibrationStore(str(tmp_path / "cal"))
    with pytest.raises(ConfigError, match="model my-model has no FAR curve.*facepipe calibrate --lfw-dir"):
        calibrations.curve("my-model")
    with pytest.raises(ConfigError, match="model my-model has no FAR curve.*facepipe calibrate --lfw-dir"):
        gallery_threshold(calibrations, "my-model", 10, 0.01)
