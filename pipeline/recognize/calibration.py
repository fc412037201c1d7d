"""Similarity thresholds calibrated per model at a target false-accept rate, stored beside each other
(one JSON file per model, in a folder or s3:// prefix), and looked up by verify and identify."""

from __future__ import annotations

import datetime as dt
import json
import os
import re

import numpy as np

from pipeline.config import Config, ConfigError
from pipeline.io import store
from pipeline.metrics.verification import decision_rates, far_threshold


def _calibration_uri(config: Config, model: str) -> str:
    folder = config.recognize.calibrations
    folder = folder if store.is_s3(folder) else os.path.expanduser(folder)
    return store.join(folder, re.sub(r"[^A-Za-z0-9_.@-]", "_", model) + ".json")


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


def save_calibration(config: Config, model: str, result: dict, source: str) -> str:
    """Record ``result`` (from calibrate) for ``model``, beside its other FARs; returns where."""
    uri = _calibration_uri(config, model)
    storage = config.resolved_storage()
    try:
        record = json.loads(store.read_bytes(uri, storage))
    except FileNotFoundError:
        record = {"model": model, "thresholds": {}}
    record["thresholds"][f"{result['far']:g}"] = {
        **result,
        "source": source,
        "calibrated_at": dt.datetime.now(dt.timezone.utc).isoformat(),
    }
    store.write_text(uri, json.dumps(record, indent=2), storage)
    return uri


def threshold_for(config: Config, model: str) -> float:
    """The calibrated threshold of ``model`` at config.recognize.far; ConfigError when it has none."""
    far = f"{config.recognize.far:g}"
    try:
        record = json.loads(store.read_bytes(_calibration_uri(config, model), config.resolved_storage()))
    except FileNotFoundError:
        record = {"thresholds": {}}
    if far not in record["thresholds"]:
        known = ", ".join(record["thresholds"]) or "none"
        raise ConfigError(
            f"model {model} has no threshold calibrated at FAR {far} (calibrated: {known}) in "
            f"{config.recognize.calibrations}: run `facepipe calibrate --lfw-dir DIR --far {far}` first"
        )
    return float(record["thresholds"][far]["threshold"])
