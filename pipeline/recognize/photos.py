"""Photos in, answers out: 1:1 verification, enrolment and 1:N identification of the faces in
photos (the Python API behind the CLI)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc

from pipeline import schema as S
from pipeline.config import Config
from pipeline.errors import ConfigError
from pipeline.ingest.photo_faces import FaceReader
from pipeline.recognize.gallery import Gallery
from pipeline.similarity.far_curves import CalibrationStore
from pipeline.similarity.thresholds import gallery_threshold, verification_threshold


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


def _round_box(box: np.ndarray) -> list[float]:
    return [round(float(v), 1) for v in box]


def verify_photos(photo_a: str, photo_b: str, config: Config, reader: FaceReader | None = None) -> dict:
    """Whether the largest faces of two photos are the same person, at the configured model's threshold
    at config.recognize.far (verification_threshold), with where that threshold came from. ``error``
    says which photo had no face."""
    reader = reader or FaceReader(config)
    threshold = verification_threshold(CalibrationStore.of(config), reader.model_id, config.recognize.far)
    a, b = reader([photo_a, photo_b])
    missing = [p.uri for p in (a, b) if not p.faces]
    if missing:
        return {
            "same": False,
            "similarity": None,
            "threshold": threshold.value,
            "threshold_source": threshold.source,
            "error": "no face found in " + " and ".join(missing),
        }
    verdict = verify(a.faces[0].embedding, b.faces[0].embedding, threshold.value)
    return {
        "same": verdict.same,
        "similarity": round(verdict.similarity, 4),
        "threshold": threshold.value,
        "threshold_source": threshold.source,
    }


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
        "photos_of_name": int(pc.sum(pc.equal(gallery.enrollments[S.NAME], name)).as_py()),
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
    """Per face of each photo: uri, bbox, identity (None when not recognised), similarity to the most
    similar enrolled person and the threshold it was held against (and where it came from): the one at
    which a person not enrolled is named with probability config.recognize.fpir, for this gallery's size."""
    reader = reader or FaceReader(config)
    gallery = Gallery.load(gallery_uri, config, reader.model_id)
    calibrations = CalibrationStore.of(config)
    threshold = gallery_threshold(calibrations, reader.model_id, len(gallery.names), config.recognize.fpir)
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
        matches = gallery.identify(np.stack([f.embedding for f in photo.faces]), threshold.value)
        for face, match in zip(photo.faces, matches):
            answers.append(
                {
                    "uri": photo.uri,
                    "bbox": _round_box(face.bbox),
                    "identity": match.identity,
                    "similarity": round(match.similarity, 4),
                    "threshold": round(threshold.value, 4),
                    "threshold_source": threshold.source,
                }
            )
    return answers
