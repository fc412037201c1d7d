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
from pipeline.recognize.calibration import far_curve, identification_threshold, threshold_for
from pipeline.recognize.gallery import Gallery


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
    at config.recognize.far (calibration.threshold_for). ``error`` says which photo had no face."""
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
    similar enrolled person and the threshold it was held against: the one at which a person not
    enrolled is named with probability config.recognize.fpir, for this gallery's size."""
    reader = reader or FaceReader(config)
    gallery = Gallery.load(gallery_uri, config, reader.model_id)
    threshold = identification_threshold(far_curve(config, reader.model_id), len(gallery.names), config.recognize.fpir)
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
                    "threshold": round(threshold, 4),
                }
            )
    return answers
