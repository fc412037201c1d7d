"""The model stage: detect, align and embed every face of a batch of decoded photos."""
from __future__ import annotations

import cv2
import numpy as np
import pyarrow as pa

from pipeline import schema as S
from pipeline.align import align_faces
from pipeline.config import ModelsConfig
from pipeline.decode import pixels_of
from pipeline.models import create_detector, create_embedder


class AnalyzeFaces:
    """Stage: decoded rows (DECODED_SCHEMA) in, one outcome row per photo with nested faces out.

    Models load once in the constructor (one instance per Ray actor). Photos that failed earlier
    pass through with their error; photos without a face get status no_face.
    """

    def __init__(self, models: ModelsConfig, threads: int = 1):
        cv2.setNumThreads(max(1, threads))
        self.detector = create_detector(models)
        self.embedder = create_embedder(models)
        self.schema = S.analyzed_schema(self.embedder.dim)

    def _faces_of(self, image: np.ndarray) -> list[dict]:
        found = self.detector.detect(image)
        if not len(found):
            return []
        vectors = self.embedder(align_faces(image, found.landmarks))
        return [
            {S.BBOX: box, S.LANDMARKS: points, S.DET_SCORE: float(score), S.EMBEDDING: vector}
            for box, points, score, vector in zip(found.boxes, found.landmarks, found.scores, vectors)
        ]

    def __call__(self, batch: pa.Table) -> pa.Table:
        statuses, faces = [], []
        for status, width, height, data in zip(
            *(batch.column(name).to_pylist() for name in (S.STATUS, S.WIDTH, S.HEIGHT, S.PIXELS))
        ):
            found = self._faces_of(pixels_of(data, width, height)) if status == S.STATUS_OK else []
            statuses.append(status if status != S.STATUS_OK or found else S.STATUS_NO_FACE)
            faces.append(found)
        columns = {name: batch.column(name) for name in (S.URI, S.IMAGE_ID, S.ERROR, S.WIDTH, S.HEIGHT)}
        columns[S.STATUS] = pa.array(statuses, pa.string())
        columns[S.FACES] = pa.array(faces, self.schema.field(S.FACES).type)
        return pa.table(columns).select(self.schema.names).cast(self.schema)
