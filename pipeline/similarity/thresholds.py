"""The threshold service: every similarity threshold facepipe decides with, each with where it came from.

A threshold comes from a model's FAR curve (pipeline.similarity.far_curves) at a stated rate: verify's
at a false-accept rate, identify's at a false-positive identification rate for a gallery's size; or it is
a similarity stated on the reference model's scale (the defaults of tags and dedup were measured on it),
carried to another model at the same false-accept rate through both models' curves; or the collection
calibrates it: a margin above its own different-person level (the clustering's merge thresholds). A
model without a FAR curve is refused with the command that calibrates it, never given another model's
values. No other module of the library holds a similarity constant (tests/unit/test_thresholds_in_one_place.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.errors import ConfigError
from pipeline.metrics.verification import decision_rates, far_threshold
from pipeline.similarity.far_curves import CalibrationStore, FarCurve, shipped_curve

REFERENCE_MODEL = "sface:face_recognition_sface_2021dec_int8bq@fb143eea0783"  # the scale the defaults are stated on
SAMPLED_PAIRS = 200_000  # random pairs behind a collection's level: its standard error is then about 0.0003


@dataclass(frozen=True)
class Threshold:
    """A similarity threshold and where it came from (for summaries)."""

    value: float
    source: str

    def describe(self) -> dict:
        return {"threshold": round(self.value, 4), "source": self.source}


def threshold_from_pairs(similarity: np.ndarray, same: np.ndarray, far: float) -> dict:
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


def verification_threshold(calibrations: CalibrationStore, model: str, far: float) -> Threshold:
    """The threshold of ``model`` at false-accept rate ``far`` (verify): the one `calibrate` measured at
    that FAR on a pairs file, else read from the model's FAR curve; ConfigError when there is neither."""
    key = f"{far:g}"
    thresholds = calibrations.recorded(model).get("thresholds", {})
    if key in thresholds:
        measured = thresholds[key]
        return Threshold(float(measured["threshold"]), f"calibrated for {model} at FAR {key} on {measured['source']}")
    try:
        curve = calibrations.curve(model)
        return Threshold(curve.threshold_at(far), f"{model}'s FAR curve at FAR {key} ({curve.source})")
    except ConfigError as exc:
        raise ConfigError(
            f"model {model} has no threshold calibrated at FAR {key} (calibrated: {', '.join(thresholds) or 'none'}): "
            f"{exc}"
        ) from None


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


def gallery_threshold(calibrations: CalibrationStore, model: str, gallery_size: int, fpir: float) -> Threshold:
    """The threshold of ``model`` for identifying against a gallery of ``gallery_size`` people at
    false-positive identification rate ``fpir`` (identification_threshold on the model's FAR curve)."""
    curve = calibrations.curve(model)
    return Threshold(
        identification_threshold(curve, gallery_size, fpir),
        f"{model}'s FAR curve at FPIR {fpir:g} against {gallery_size} people ({curve.source})",
    )


def _reference_curve() -> FarCurve:
    curve = shipped_curve(REFERENCE_MODEL)
    if curve is None:
        raise RuntimeError(f"the FAR curve of the reference model {REFERENCE_MODEL} is missing from the package")
    return curve


def carried_threshold(calibrations: CalibrationStore, model: str, similarity: float, setting: str) -> Threshold:
    """``similarity`` (the value of ``setting``, stated on REFERENCE_MODEL's scale) as a threshold of
    ``model``: exactly the value for the reference model itself; for another, its threshold at the
    false-accept rate the value has on the reference model's shipped curve (at most the strictest FAR
    either curve measured), to 4 decimals. ConfigError naming the model and the command that calibrates
    it when ``model`` has no FAR curve."""
    if model == REFERENCE_MODEL:
        return Threshold(similarity, f"{setting} as configured (stated on this model's scale)")
    try:
        theirs = calibrations.curve(model)
    except ConfigError as exc:
        raise ConfigError(
            f"{setting} ({similarity:g}) is stated on the scale of {REFERENCE_MODEL}: carrying it to {model} "
            f"needs that model's FAR curve. {exc}"
        ) from None
    far = _reference_curve().far_at(similarity)
    value = round(theirs.threshold_at(max(far, theirs.fars[-1])), 4)
    return Threshold(value, f"{setting} {similarity:g} carried from {REFERENCE_MODEL} at equal FAR ({far:.2g})")


def carried_margin(
    calibrations: CalibrationStore, model: str, margin: float, next_to: float, setting: str
) -> Threshold:
    """A similarity ``margin`` (the value of ``setting``, on REFERENCE_MODEL's scale) used just below the
    similarity ``next_to``, as a margin of ``model``: exactly the value for the reference model itself;
    for another, the width on its scale of [next_to - margin, next_to] carried at equal FAR (the span
    moved down to end at the reference curve's strictest threshold when ``next_to`` lies beyond it)."""
    if model == REFERENCE_MODEL:
        return Threshold(margin, f"{setting} as configured (stated on this model's scale)")
    top = min(next_to, float(_reference_curve().thresholds[-1]))
    upper = carried_threshold(calibrations, model, top, setting)
    lower = carried_threshold(calibrations, model, top - margin, setting)
    return Threshold(
        round(upper.value - lower.value, 4),
        f"{setting} {margin:g} carried from {REFERENCE_MODEL}: the width of [{top - margin:.4g}, {top:.4g}] at "
        "equal FAR",
    )


def different_person_level(vectors: np.ndarray, groups: np.ndarray | None = None, seed: int = 0) -> tuple[float, int]:
    """A collection's different-person level: (median cosine similarity, pairs used) of SAMPLED_PAIRS
    random pairs of distinct unit ``vectors`` (of every pair, when there are no more: a library's own
    scope is often that small, and sampling it cost 57 ms for 20 faces), leaving out pairs of one group
    when ``groups`` (a group id per face) is given; (0, 0) when no pair is left."""
    n = len(vectors)
    if n * (n - 1) // 2 <= SAMPLED_PAIRS:
        first, second = np.triu_indices(n, 1)
    else:
        first, second = np.random.default_rng(seed).integers(0, n, (2, SAMPLED_PAIRS))
    kept = first != second
    if groups is not None:
        kept &= groups[first] != groups[second]
    if not kept.any():
        return 0.0, 0
    similarities = np.einsum("ij,ij->i", vectors[first[kept]], vectors[second[kept]])
    return float(np.median(similarities)), int(kept.sum())


def collection_threshold(level: float, margin: float) -> float:
    """A threshold the collection calibrates: ``margin`` above its different-person ``level``."""
    return level + margin


def same_vector_threshold() -> Threshold:
    """The cosine from which two vectors are one embedding stored twice (float32 rounding, a re-normalisation, an
    index's 8-bit copy of it keep them above it): what an audit tests for; no decision about people, so no
    model's curve is involved."""
    return Threshold(0.9999, "one embedding stored twice (float32 rounding, re-normalisation, 8-bit codes)")
