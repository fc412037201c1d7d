"""The suggester's similarity thresholds for a library's model: measured on the default model, carried to
another model at the same false-accept rate through the two models' FAR curves (the calibration verify
and identify use: shipped for the default model, `facepipe calibrate` for another)."""

from __future__ import annotations

from pipeline.config import Config, TagsConfig
from pipeline.errors import ConfigError
from pipeline.recognize.calibration import far_curve

MEASURED_ON = "sface:face_recognition_sface_2021dec_int8bq@fb143eea0783"  # the model the defaults were measured on
SIMILARITIES = ("similarity", "direct_similarity", "pass_on", "same_person", "odd_one_out")  # cosines in TagsConfig


def thresholds_for(model: str, config: Config) -> tuple[TagsConfig, str]:
    """config.tags with its similarities for ``model``, and how they were chosen."""
    settings = config.tags
    if model == MEASURED_ON:
        return settings, "as configured (measured on this model)"
    try:
        theirs, ours = far_curve(config, model), far_curve(config, MEASURED_ON)
    except ConfigError:
        return settings, f"as configured: {model} has no FAR curve to carry them over (facepipe calibrate)"
    mapped = {
        key: round(theirs.threshold_at(max(ours.far_at(getattr(settings, key)), theirs.fars[-1])), 4)
        for key in SIMILARITIES
    }
    return settings.model_copy(update=mapped), f"carried from {MEASURED_ON} at equal FAR: {mapped}"
