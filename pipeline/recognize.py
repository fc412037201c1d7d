"""Recognition: thresholds calibrated per model at a target false-accept rate, 1:1 verification,
and 1:N identification against a gallery enrolled from as little as one photo per person.

A person's template is the normalised mean of their enrolled embeddings (one-shot: adding a person
never retrains anything). The gallery lives at a folder or s3:// prefix: ``enrollments.parquet``
(one row per enrolled photo) and ``index/`` (a VectorIndex of the templates, key = name).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import store
from pipeline.config import Config, ConfigError, IndexConfig
from pipeline.evaluate import decision_rates, far_threshold
from pipeline.index import KEY, VectorIndex, batches_of
from pipeline.photo_faces import FaceReader

NAME = "name"
PHOTO = "photo"
EMBEDDING = "embedding"
ENROLLED_AT = "enrolled_at"
ENROLLMENTS_FILE = "enrollments.parquet"


# --- calibration ------------------------------------------------------------------------------
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


@dataclass(frozen=True)
class Verdict:
    """A 1:1 decision: same person or not, the similarity, and the threshold it was held against."""

    same: bool
    similarity: float
    threshold: float


def verify(a: np.ndarray, b: np.ndarray, threshold: float) -> Verdict:
    """Whether unit embeddings ``a`` and ``b`` show the same person at ``threshold``."""
    similarity = float(np.dot(a, b))
    return Verdict(similarity >= threshold, similarity, threshold)


# --- gallery ----------------------------------------------------------------------------------
def _template_index(names: list[str], templates: np.ndarray) -> VectorIndex:
    """An exact index over the templates (galleries are small next to face tables)."""
    entries = pa.table({KEY: pa.array(names, pa.string())})
    config = IndexConfig(kind="flat", tune_queries=max(10, min(1000, len(names))))
    return VectorIndex.build(batches_of(entries, templates, len(names)), len(names), templates.shape[1], config)


@dataclass
class Identification:
    """The best gallery match of a probe: identity (None: not recognised), similarity, runner-up."""

    identity: str | None
    similarity: float
    candidate: str | None


class Gallery:
    """People enrolled by name: their enrolled embeddings, templates and the template index."""

    def __init__(self, model: str, enrollments: pa.Table | None = None):
        self.model = model
        self.enrollments = (
            enrollments
            if enrollments is not None
            else pa.table(
                {
                    NAME: pa.array([], pa.string()),
                    PHOTO: pa.array([], pa.string()),
                    EMBEDDING: pa.array([], pa.list_(pa.float32())),
                    ENROLLED_AT: pa.array([], pa.timestamp("us", tz="UTC")),
                }
            )
        )
        self._index: VectorIndex | None = None

    @property
    def names(self) -> list[str]:
        return sorted(set(self.enrollments[NAME].to_pylist()))

    def enroll(self, name: str, photos: list[str], embeddings: np.ndarray, replace: bool = False) -> None:
        """Add photos of ``name`` (one is enough; more refine the template); ``replace`` drops earlier ones."""
        if not name.strip():
            raise ConfigError("a person's name must not be empty")
        if replace:
            self.remove(name)
        now = dt.datetime.now(dt.timezone.utc)
        rows = pa.table(
            {
                NAME: [name] * len(photos),
                PHOTO: photos,
                EMBEDDING: pa.array([list(map(float, e)) for e in embeddings], pa.list_(pa.float32())),
                ENROLLED_AT: pa.array([now] * len(photos), pa.timestamp("us", tz="UTC")),
            }
        )
        self.enrollments = pa.concat_tables([self.enrollments, rows.cast(self.enrollments.schema)])
        self._index = None

    def remove(self, name: str) -> int:
        """Forget ``name``; how many enrolled photos that dropped."""
        keep = pc.not_equal(self.enrollments[NAME], name)
        dropped = self.enrollments.num_rows - pc.sum(keep).as_py() if self.enrollments.num_rows else 0
        self.enrollments = self.enrollments.filter(keep)
        self._index = None
        return int(dropped)

    def templates(self) -> tuple[list[str], np.ndarray]:
        """Names and their unit template vectors (normalised mean of the enrolled embeddings)."""
        names = self.enrollments[NAME].to_pylist()
        vectors = np.asarray(self.enrollments[EMBEDDING].combine_chunks().flatten().to_numpy(), np.float32)
        vectors = vectors.reshape(len(names), -1)
        people = sorted(set(names))
        position = {name: i for i, name in enumerate(people)}
        sums = np.zeros((len(people), vectors.shape[1] if len(names) else 0), np.float32)
        np.add.at(sums, [position[n] for n in names], vectors)
        return people, sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)

    def index(self) -> VectorIndex | None:
        if self._index is None and self.enrollments.num_rows:
            self._index = _template_index(*self.templates())
        return self._index

    def identify(self, probes: np.ndarray, threshold: float) -> list[Identification]:
        """Per unit probe embedding: the most similar person, kept only at or above ``threshold``."""
        index = self.index()
        if index is None:
            raise ConfigError("the gallery is empty: enroll someone first")
        similarities, positions = index.search(probes, 1)
        names = index.entries[KEY].to_pylist()
        return [
            Identification(names[p] if s >= threshold else None, float(s), names[p])
            for s, p in zip(similarities[:, 0], positions[:, 0])
        ]

    def save(self, uri: str, config: Config) -> None:
        """Write the enrollments and the template index at ``uri``."""
        storage = config.resolved_storage()
        buffer = io.BytesIO()
        pq.write_table(self.enrollments.replace_schema_metadata({"facepipe.model": self.model}), buffer)
        store.write_bytes(store.join(uri, ENROLLMENTS_FILE), buffer.getvalue(), storage)
        index = self.index()
        if index is not None:
            index.info["model"] = self.model
            index.save(store.join(uri, "index"), storage)

    @classmethod
    def load(cls, uri: str, config: Config, model: str, create: bool = False) -> "Gallery":
        """The gallery at ``uri`` for ``model``; an empty one when ``create`` and there is none.
        Raises ConfigError when it is missing or was enrolled with another model."""
        storage = config.resolved_storage()
        try:
            table = pq.read_table(io.BytesIO(store.read_bytes(store.join(uri, ENROLLMENTS_FILE), storage)))
        except FileNotFoundError:
            if create:
                return cls(model)
            raise ConfigError(
                f"no gallery at {uri}: enroll someone first (facepipe enroll --gallery {uri} ...)"
            ) from None
        recorded = (table.schema.metadata or {}).get(b"facepipe.model", b"").decode()
        if recorded != model:
            raise ConfigError(f"the gallery at {uri} was enrolled with model {recorded}, this run uses {model}")
        gallery = cls(model, table.replace_schema_metadata(None))
        try:
            index = VectorIndex.load(store.join(uri, "index"), storage)
            gallery._index = index if sorted(index.keys()) == gallery.names else None  # else rebuilt when needed
        except FileNotFoundError:
            pass
        return gallery


# --- photos in, answers out (the Python API behind the CLI) -------------------------------------
def _round_box(box: np.ndarray) -> list[float]:
    return [round(float(v), 1) for v in box]


def verify_photos(photo_a: str, photo_b: str, config: Config, reader: FaceReader | None = None) -> dict:
    """Whether the largest faces of two photos are the same person, at the threshold calibrated for
    the configured model at config.recognize.far. ``error`` says which photo had no face."""
    reader = reader or FaceReader(config)
    threshold = threshold_for(config, reader.model_id)
    a, b = reader([photo_a, photo_b])
    missing = [p.uri for p in (a, b) if not p.faces]
    if missing:
        return {
            "same": False,
            "similarity": None,
            "threshold": threshold,
            "error": "no face found in " + " and ".join(missing),
        }
    verdict = verify(a.faces[0].embedding, b.faces[0].embedding, threshold)
    return {"same": verdict.same, "similarity": round(verdict.similarity, 4), "threshold": threshold}


def enroll_photos(
    gallery_uri: str,
    name: str,
    photos: list[str],
    config: Config,
    replace: bool = False,
    reader: FaceReader | None = None,
) -> dict:
    """Enroll ``name`` from the largest face of each photo. Photos without a face are skipped and
    reported; ConfigError when none has one."""
    reader = reader or FaceReader(config)
    gallery = Gallery.load(gallery_uri, config, reader.model_id, create=True)
    found = reader(photos)
    used = [p for p in found if p.faces]
    skipped = [{"uri": p.uri, "reason": p.error or "no face found"} for p in found if not p.faces]
    if not used:
        raise ConfigError(f"no face found in any photo of {name}: nothing enrolled")
    gallery.enroll(name, [p.uri for p in used], np.stack([p.faces[0].embedding for p in used]), replace=replace)
    gallery.save(gallery_uri, config)
    return {
        "name": name,
        "enrolled_photos": [p.uri for p in used],
        "skipped": skipped,
        "photos_of_name": int(pc.sum(pc.equal(gallery.enrollments[NAME], name)).as_py()),
        "people": len(gallery.names),
        "model": reader.model_id,
    }


def unenroll(gallery_uri: str, name: str, config: Config, model: str) -> dict:
    """Remove ``name`` from the gallery; ConfigError when it is not enrolled."""
    gallery = Gallery.load(gallery_uri, config, model)
    if name not in gallery.names:
        raise ConfigError(f"{name!r} is not enrolled in {gallery_uri}")
    dropped = gallery.remove(name)
    gallery.save(gallery_uri, config)
    return {"name": name, "removed_photos": dropped, "people": len(gallery.names)}


def identify_photos(
    gallery_uri: str, photos: list[str], config: Config, reader: FaceReader | None = None
) -> list[dict]:
    """Per face of each photo: uri, bbox, identity (None when not recognised) and similarity to the
    most similar enrolled person, at the threshold calibrated at config.recognize.far."""
    reader = reader or FaceReader(config)
    threshold = threshold_for(config, reader.model_id)
    gallery = Gallery.load(gallery_uri, config, reader.model_id)
    answers = []
    for photo in reader(photos):
        if not photo.faces:
            answers.append(
                {
                    "uri": photo.uri,
                    "bbox": None,
                    "identity": None,
                    "similarity": None,
                    "error": photo.error or "no face found",
                }
            )
            continue
        for face, match in zip(photo.faces, gallery.identify(np.stack([f.embedding for f in photo.faces]), threshold)):
            answers.append(
                {
                    "uri": photo.uri,
                    "bbox": _round_box(face.bbox),
                    "identity": match.identity,
                    "similarity": round(match.similarity, 4),
                }
            )
    return answers
