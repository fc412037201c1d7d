"""Thresholds calibrated at a target false-accept rate, stored per model and FAR."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.config import ConfigError, load_config
from pipeline.recognize.calibration import calibrate, save_calibration, threshold_for


def _pairs(seed: int = 0, same: int = 2000, different: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.normal(0.6, 0.1, same), rng.normal(0.05, 0.1, different)])
    return scores, np.concatenate([np.ones(same, bool), np.zeros(different, bool)])


def test_calibrated_threshold_lets_through_at_most_the_target_share_of_impostors() -> None:
    similarity, same = _pairs()
    for far in (1e-2, 1e-3):
        result = calibrate(similarity, same, far)
        impostors = similarity[~same]
        assert np.mean(impostors >= result["threshold"]) <= far
        assert result["measured_far"] == pytest.approx(np.mean(impostors >= result["threshold"]))
        # the threshold is as low as the target allows: one impostor more would pass just below it
        assert np.mean(impostors >= np.sort(impostors)[::-1][int(far * len(impostors))]) > far
        assert result["tar"] == pytest.approx(np.mean(similarity[same] >= result["threshold"]))


def test_too_few_impostor_pairs_cannot_calibrate_a_small_far() -> None:
    similarity, same = _pairs(different=500)
    with pytest.raises(ConfigError, match="at least 1000"):
        calibrate(similarity, same, 1e-3)


def test_thresholds_are_stored_per_model_and_far_and_missing_ones_say_so(tmp_path: Path) -> None:
    config = load_config(None, [f"recognize.calibrations={tmp_path / 'cal'}"])
    with pytest.raises(ConfigError, match="no threshold calibrated at FAR 0.001.*facepipe calibrate"):
        threshold_for(config, "sface:model@abc")
    similarity, same = _pairs()
    save_calibration(config, "sface:model@abc", calibrate(similarity, same, 1e-3), source="synthetic")
    save_calibration(config, "sface:model@abc", calibrate(similarity, same, 1e-2), source="synthetic")
    assert threshold_for(config, "sface:model@abc") == calibrate(similarity, same, 1e-3)["threshold"]
    looser = load_config(None, [f"recognize.calibrations={tmp_path / 'cal'}", "recognize.far=0.01"])
    assert threshold_for(looser, "sface:model@abc") < threshold_for(config, "sface:model@abc")
    uncalibrated_far = load_config(None, [f"recognize.calibrations={tmp_path / 'cal'}", "recognize.far=0.1"])
    with pytest.raises(ConfigError, match=r"calibrated: 0.001, 0.01\)"):
        threshold_for(uncalibrated_far, "sface:model@abc")
    with pytest.raises(ConfigError, match="calibrated: none"):
        threshold_for(config, "sface:model@def")
