"""The suggester's thresholds on another model: carried at equal false-accept rate through the FAR curves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.config import Config
from pipeline.models.catalog import model_file_stem
from pipeline.recognize.calibration import SHIPPED
from pipeline.tags.thresholds import MEASURED_ON, SIMILARITIES, thresholds_for


def test_the_default_model_keeps_the_configured_thresholds() -> None:
    settings, how = thresholds_for(MEASURED_ON, Config())
    assert settings == Config().tags and "as configured" in how


def test_another_model_gets_the_thresholds_at_the_same_false_accept_rates(tmp_path: Path) -> None:
    """A model whose curve is the default's moved up by 0.1 gets every threshold 0.1 higher."""
    record = json.loads((SHIPPED / (model_file_stem(MEASURED_ON) + ".json")).read_text())
    record["model"] = "other"
    record["curve"]["thresholds"] = [t + 0.1 for t in record["curve"]["thresholds"]]
    (tmp_path / (model_file_stem("other") + ".json")).write_text(json.dumps(record))
    config = Config(recognize={"calibrations": str(tmp_path)})
    settings, how = thresholds_for("other", config)
    for key in ("similarity", "direct_similarity", "pass_on", "odd_one_out"):
        assert getattr(settings, key) == pytest.approx(getattr(Config().tags, key) + 0.1, abs=2e-3), key
    assert settings.same_person == pytest.approx(0.5942 + 0.1, abs=1e-3)  # beyond the curve: its last point
    assert "carried" in how and set(SIMILARITIES) <= set(settings.model_dump())


def test_a_model_without_a_curve_keeps_them_and_says_so(tmp_path: Path) -> None:
    settings, how = thresholds_for("uncalibrated", Config(recognize={"calibrations": str(tmp_path)}))
    assert settings == Config().tags and "no FAR curve" in how
