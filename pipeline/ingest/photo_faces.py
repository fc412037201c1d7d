"""The faces of a few given photos, in this process (no Ray): the chain's own stages (read, decode,
detect/align/embed) for ``pipeline.analyze`` and the search, verify, enroll and identify commands."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipeline import schema as S
from pipeline.config import Config, load_config
from pipeline.ingest.chain import PhotoChain
from pipeline.models.registry import resolve_models


@dataclass(frozen=True)
class Face:
    """One detected face: box (x1, y1, x2, y2) and 5 landmarks in photo pixels, score, unit embedding."""

    bbox: np.ndarray
    landmarks: np.ndarray
    score: float
    embedding: np.ndarray

    @property
    def area(self) -> float:
        return float((self.bbox[2] - self.bbox[0]) * (self.bbox[3] - self.bbox[1]))


@dataclass(frozen=True)
class PhotoFaces:
    """A photo's outcome: its uri (None for a photo given as pixels), status (ok, no_face, error), error
    message, and its faces, largest first."""

    uri: str | None
    status: str
    error: str | None
    faces: list[Face]


def _faces(found: list[dict]) -> list[Face]:
    """The model stage's faces of one photo as Face records, largest first."""
    faces = [
        Face(
            np.asarray(f[S.BBOX], np.float32),
            np.asarray(f[S.LANDMARKS], np.float32).reshape(5, 2),
            float(f[S.DET_SCORE]),
            np.asarray(f[S.EMBEDDING], np.float32),
        )
        for f in found
    ]
    return sorted(faces, key=lambda face: -face.area)


class FaceReader:
    """Models loaded once; call with photos (uris: local paths or s3://, or HxWx3 uint8 RGB arrays) to get
    their faces."""

    def __init__(self, config: Config):
        chain = PhotoChain.of(config, resolve_models(config.models))
        self.model_id = chain.models.embedder.model_id
        self.read, self.decode = (stage.ready() for stage in chain.decoding())
        self.analyzer = chain.analysing(threads=os.cpu_count() or 1).ready()

    def __call__(self, photos: Sequence[str | np.ndarray]) -> list[PhotoFaces]:
        return [self._pixels(photo) if isinstance(photo, np.ndarray) else self._file(photo) for photo in photos]

    def _file(self, uri: str) -> PhotoFaces:
        # one at a time: photos may sit in different buckets or folders
        batch = self.analyzer(self.decode(self.read(pa.table({S.URI: pa.array([uri], pa.string())}))))
        row = batch.to_pylist()[0]
        return PhotoFaces(uri, row[S.STATUS], row[S.ERROR], _faces(row[S.FACES] or []))

    def _pixels(self, pixels: np.ndarray) -> PhotoFaces:
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
            raise ValueError(f"a photo given as pixels must be HxWx3 uint8 RGB, got {pixels.dtype} {pixels.shape}")
        faces = _faces(self.analyzer.faces_of([np.ascontiguousarray(pixels)])[0])
        return PhotoFaces(None, S.STATUS_OK if faces else S.STATUS_NO_FACE, None, faces)


def analyze(photos: Sequence[str | np.ndarray], config: Config | None = None) -> list[PhotoFaces]:
    """The faces of each of ``photos`` (uris: local paths or s3://; or HxWx3 uint8 RGB arrays), found in this
    process by the chain the embed job runs (read, decode, detect, align, embed), in order: each photo's
    status, error and faces (box, five landmarks, score, unit embedding), largest first. Loads the models
    on each call: for many calls, keep a FaceReader."""
    return FaceReader(config or load_config())(photos)
