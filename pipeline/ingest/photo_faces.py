"""The faces of a few given photos, in this process (no Ray): the chain's own stages (read, decode,
detect/align/embed) for the search, verify, enroll and identify commands."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipeline import schema as S
from pipeline.config import Config
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
    """A photo's outcome: status (ok, no_face, error), error message, and its faces, largest first."""

    uri: str
    status: str
    error: str | None
    faces: list[Face]


class FaceReader:
    """Models loaded once; call with photo uris (local paths or s3://) to get their faces."""

    def __init__(self, config: Config):
        chain = PhotoChain.of(config, resolve_models(config.models))
        self.model_id = chain.models.embedder.model_id
        self.stages = [stage.ready() for stage in [*chain.decoding(), chain.analysing(threads=os.cpu_count() or 1)]]

    def __call__(self, uris: list[str]) -> list[PhotoFaces]:
        found = []
        for uri in uris:  # one at a time: photos may sit in different buckets or folders
            batch = pa.table({S.URI: pa.array([uri], pa.string())})
            for stage in self.stages:
                batch = stage(batch)
            row = batch.to_pylist()[0]
            faces = [
                Face(
                    np.asarray(f[S.BBOX], np.float32),
                    np.asarray(f[S.LANDMARKS], np.float32).reshape(5, 2),
                    float(f[S.DET_SCORE]),
                    np.asarray(f[S.EMBEDDING], np.float32),
                )
                for f in row[S.FACES] or []
            ]
            faces.sort(key=lambda face: -face.area)
            found.append(PhotoFaces(uri, row[S.STATUS], row[S.ERROR], faces))
        return found
