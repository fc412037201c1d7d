"""Models' false-accept-rate curves and where they are kept.

A model's calibration is one JSON file (``thresholds``: per FAR, the threshold `facepipe calibrate`
measured on a pairs file; ``curve``: thresholds and TARs at FAR 1e-1 .. 1e-6 and their source), in the
calibrations folder (recognize.calibrations: what `calibrate` wrote) or, for the default models,
shipped in ``calibrations/`` beside this module. The user's calibration overrides the shipped one.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import json
import os
from dataclasses import dataclass

import numpy as np

from pipeline.config import Config, StorageConfig
from pipeline.errors import ConfigError
from pipeline.io import store
from pipeline.models.catalog import model_file_stem

SHIPPED = importlib.resources.files("pipeline.similarity") / "calibrations"
HOW_TO_CALIBRATE = "facepipe calibrate --lfw-dir DIR --all-pairs"


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
    different_person_level: float | None = None  # median similarity of the source's different-person pairs

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
        record.get("different_person_level"),
    )


def _shipped_record(model: str) -> dict:
    """The calibration shipped with facepipe for ``model`` ({} when none)."""
    shipped = SHIPPED / (model_file_stem(model) + ".json")
    return json.loads(shipped.read_text()) if shipped.is_file() else {}


def shipped_curve(model: str) -> FarCurve | None:
    """The FAR curve shipped with facepipe for ``model`` (None when none ships), whatever the user calibrated."""
    record = _shipped_record(model)
    return _curve(model, record["curve"]) if "curve" in record else None


@dataclass(frozen=True)
class CalibrationStore:
    """The calibrations `facepipe calibrate` records, one file per model in ``folder`` (a local folder,
    ``~`` expanded, or an s3:// prefix, read with ``storage``), over the ones shipped with facepipe."""

    folder: str
    storage: StorageConfig | None = None

    @classmethod
    def of(cls, config: Config) -> CalibrationStore:
        """The store ``config`` names: recognize.calibrations, read with the resolved storage."""
        return cls(config.recognize.calibrations, config.resolved_storage())

    def _uri(self, model: str) -> str:
        folder = self.folder if store.is_s3(self.folder) else os.path.expanduser(self.folder)
        return store.join(folder, model_file_stem(model) + ".json")

    def recorded(self, model: str) -> dict:
        """What `calibrate` recorded for ``model`` ({} when nothing)."""
        try:
            return json.loads(store.read_bytes(self._uri(model), self.storage))
        except FileNotFoundError:
            return {}

    def curve(self, model: str) -> FarCurve:
        """The FAR curve of ``model``: the one `calibrate` recorded, else the one shipped for it;
        ConfigError naming the model and saying how to calibrate it when neither exists."""
        for record in (self.recorded(model), _shipped_record(model)):
            if "curve" in record:
                return _curve(model, record["curve"])
        raise ConfigError(
            f"model {model} has no FAR curve in {self.folder} and none is shipped for it: "
            f"run `{HOW_TO_CALIBRATE}` on a labelled folder of photos (one folder per person) first"
        )

    def save(self, model: str, curve: dict, source: str, command: str, threshold: dict | None = None) -> str:
        """Record a calibration of ``model``: its FAR ``curve`` (far_curve_points) and, from a pairs file,
        the ``threshold`` at its FAR (threshold_from_pairs), kept beside those at other FARs. A calibration
        without a threshold (all pairs of a labelled set) replaces everything recorded before. Returns where."""
        made = {"source": source, "command": command, "calibrated_at": dt.datetime.now(dt.timezone.utc).isoformat()}
        thresholds = self.recorded(model).get("thresholds", {}) if threshold is not None else {}
        if threshold is not None:
            thresholds[f"{threshold['far']:g}"] = {**threshold, **made}
        record = {"model": model, "thresholds": thresholds, "curve": {**curve, **made}}
        uri = self._uri(model)
        store.write_text(uri, json.dumps(record, indent=2), self.storage)
        return uri
