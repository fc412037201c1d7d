"""Similarity thresholds per model, from its false-accept-rate curve: at a target FAR for verify, and at a
target false-positive identification rate for a gallery of N people for identify and tag suggestions.

A model's calibration is one JSON file (``thresholds``: per FAR, the threshold `facepipe calibrate`
measured on a pairs file; ``curve``: thresholds and TARs at FAR 1e-1 .. 1e-6 and their source), in
config.recognize.calibrations (what `calibrate` wrote) or, for the default models, shipped in
``calibrations/`` beside this module. The user's calibration overrides the shipped one.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import json
import os
from dataclasses import dataclass

import numpy as np

from pipeline.config import Config
from pipeline.errors import ConfigError
from pipeline.io import store
from pipeline.metrics.verification import decision_rates, far_threshold
from pipeline.models.catalog import model_file_stem

SHIPPED = importlib.resources.files("pipeline.recognize") / "calibrations"
HOW_TO_CALIBRATE = "facepipe calibrate --lfw-dir DIR --all-pairs"


def _calibration_uri(config: Config, model: str) -> str:
    folder = config.recognize.calibrations
    folder = folder if store.is_s3(folder) else os.path.expanduser(folder)
    return store.join(folder, model_file_stem(model) + ".json")


def _user_record(config: Config, model: str) -> dict:
    """What `calibrate` recorded for ``model`` ({} when nothing)."""
    try:
        return json.loads(store.read_bytes(_calibration_uri(config, model), config.resolved_storage()))
    except FileNotFoundError:
        return {}


def _shipped_record(model: str) -> dict:
    """The calibration shipped with facepipe for ``model`` ({} when none)."""
    shipped = SHIPPED / (model_file_stem(model) + ".json")
    return json.loads(shipped.read_text()) if shipped.is_file() else {}


@dataclass(frozen=True, eq=False)
class FarCurve:
    """A model's false-accept rate against similarity threshold, measured at ``fars`` (descending) on
    the different-person pairs of ``source``: ``thresholds`` (ascending) and the true-accept rates
    ``tars`` of its same-person pairs there."""

    model: str
    fars: np.ndarray
    thresholds: np.ndarray
    tars: np.ndarray
    source: str

    def threshold_at(self, far: float) -> float:
        """The similarity threshold at false-accept rate ``far``, interpolated in log FAR; at a FAR above
        the largest measured, the threshold there (stricter). ConfigError below the smallest measured:
        a FAR the pairs cannot measure is not invented."""
        if far < self.fars[-1] * (1 - 1e-9):
            raise ConfigError(
                f"FAR {far:.3g} is below the smallest FAR ({self.fars[-1]:g}) calibrated for {self.model} "
                f"({self.source}): calibrate on more pairs (`{HOW_TO_CALIBRATE}` on a labelled folder) or ask "
                f"for a higher rate"
            )
        return float(np.interp(np.log(far), np.log(self.fars[::-1]), self.thresholds[::-1]))

    def far_at(self, similarity: float | np.ndarray) -> float | np.ndarray:
        """The false-accept rate at threshold ``similarity`` (per value of an array), interpolated in log
        FAR and clipped to the measured range."""
        far = np.exp(np.interp(similarity, self.thresholds, np.log(self.fars)))
        return float(far) if np.ndim(far) == 0 else far


def _curve(model: str, record: dict) -> FarCurve:
    return FarCurve(
        model,
        np.array(record["fars"], float),
        np.array(record["thresholds"], float),
        np.array(record["tars"], float),
        record["source"],
    )


def far_curve(config: Config, model: str) -> FarCurve:
    """The FAR curve of ``model``: the one `calibrate` recorded in config.recognize.calibrations, else
    the one shipped for it; ConfigError saying how to calibrate when neither exists."""
    for record in (_user_record(config, model), _shipped_record(model)):
        if "curve" in record:
            return _curve(model, record["curve"])
    raise ConfigError(
        f"model {model} has no FAR curve in {config.recognize.calibrations} and none is shipped for it: "
        f"run `{HOW_TO_CALIBRATE}` on a labelled folder of photos (one folder per person) first"
    )


def identification_threshold(curve: FarCurve, gallery_size: int, fpir: float) -> float:
    """The similarity a probe's best match must reach so that a stranger (someone not enrolled) is named
    with probability ``fpir`` against a gallery of ``gallery_size`` people: the threshold at the
    per-person FAR 1 - (1 - fpir) ** (1 / gallery_size)."""
    if gallery_size < 1:
        raise ConfigError("the gallery is empty: enroll someone first")
    far = float(-np.expm1(np.log1p(-fpir) / gallery_size))
    try:
        return curve.threshold_at(far)
    except ConfigError as exc:
        raise ConfigError(
            f"a gallery of {gallery_size} people at FPIR {fpir:g} needs FAR {far:.3g} per person: {exc}"
        ) from None


def calibrate(similarity: np.ndarray, same: np.ndarray, far: float) -> dict:
    """The threshold at false-accept rate ``far`` over labelled pair similarities, with the rates
    measured at it. Raises ConfigError when there are too few different-person pairs to measure ``far``."""
    scored = ~np.isnan(similarity)
    different = int(np.count_nonzero(scored & ~same))
    if different * far < 1:
        raise ConfigError(
            f"FAR {far:g} needs at least {int(np.ceil(1 / far))} scored different-person pairs, got {different}"
        )
    threshold = far_threshold(similarity[scored], same[scored], far)
    accuracy, tar, measured_far = decision_rates(similarity[scored], same[scored], threshold)
    return {
        "far": far,
        "threshold": threshold,
        "measured_far": measured_far,
        "tar": tar,
        "accuracy": accuracy,
        "same_pairs": int(np.count_nonzero(scored & same)),
        "different_pairs": different,
        "unscored_pairs": int(np.count_nonzero(~scored)),
    }


def save_calibration(
    config: Config, model: str, curve: dict, source: str, command: str, threshold: dict | None = None
) -> str:
    """Record a calibration of ``model``: its FAR ``curve`` (far_curve_points) and, from a pairs file,
    the ``threshold`` at its FAR (from calibrate), kept beside those at other FARs. A calibration
    without a threshold (all pairs of a labelled set) replaces everything recorded before. Returns where."""
    uri = _calibration_uri(config, model)
    storage = config.resolved_storage()
    made = {"source": source, "command": command, "calibrated_at": dt.datetime.now(dt.timezone.utc).isoformat()}
    thresholds = _user_record(config, model).get("thresholds", {}) if threshold is not None else {}
    if threshold is not None:
        thresholds[f"{threshold['far']:g}"] = {**threshold, **made}
    record = {"model": model, "thresholds": thresholds, "curve": {**curve, **made}}
    store.write_text(uri, json.dumps(record, indent=2), storage)
    return uri


def threshold_for(config: Config, model: str) -> float:
    """The threshold of ``model`` at config.recognize.far: the one `calibrate` measured at that FAR on a
    pairs file, else read from the model's FAR curve (far_curve); ConfigError when there is neither."""
    far = f"{config.recognize.far:g}"
    thresholds = _user_record(config, model).get("thresholds", {})
    if far in thresholds:
        return float(thresholds[far]["threshold"])
    try:
        return far_curve(config, model).threshold_at(config.recognize.far)
    except ConfigError as exc:
        raise ConfigError(
            f"model {model} has no threshold calibrated at FAR {far} (calibrated: {', '.join(thresholds) or 'none'}): "
            f"{exc}"
        ) from None
