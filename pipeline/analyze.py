"""The model stage: detect, align and embed every face of a batch of decoded photos."""
from __future__ import annotations

import cv2
import numpy as np
import pyarrow as pa

from pipeline import schema as S
from pipeline.align import align_faces, align_faces_torch
from pipeline.config import ModelsConfig
from pipeline.decode import pixels_of
from pipeline.detect import Detections
from pipeline.embed import TorchEmbedder
from pipeline.models import create_detector, create_embedder, resolve_device


class AnalyzeFaces:
    """Stage: decoded rows (DECODED_SCHEMA) in, one outcome row per photo with nested faces out.

    Models load once in the constructor (one instance per Ray actor). All photos of a batch are
    detected together and all their faces embedded together; on CUDA the crops are warped on the
    GPU. Photos that failed earlier pass through with their error; photos without a face get
    status no_face.
    """

    def __init__(self, models: ModelsConfig, threads: int = 1):
        cv2.setNumThreads(max(1, threads))
        self.detector = create_detector(models, threads)
        self.embedder = create_embedder(models, threads)
        self.on_gpu = resolve_device(models.device) == "cuda" and isinstance(self.embedder, TorchEmbedder)
        if isinstance(self.embedder, TorchEmbedder) and not self.on_gpu:
            import torch

            torch.set_num_threads(max(1, threads))
        self.schema = S.analyzed_schema(self.embedder.dim)

    def _crops(self, images: list[np.ndarray], found: list[Detections]):
        with_faces = [(image, d.landmarks) for image, d in zip(images, found) if len(d)]
        if not self.on_gpu:
            return np.concatenate([align_faces(image, marks) for image, marks in with_faces]) if with_faces else np.zeros((0, 112, 112, 3), np.uint8)
        import torch

        device = self.embedder.device
        return torch.cat([align_faces_torch(torch.from_numpy(image).to(device).permute(2, 0, 1), marks) for image, marks in with_faces])

    def faces_of(self, images: list[np.ndarray]) -> list[list[dict]]:
        """Per photo, its faces as dicts of bbox, landmarks, det_score and embedding."""
        found = self.detector(images)
        counts = [len(d) for d in found]
        vectors = self.embedder(self._crops(images, found)) if sum(counts) else np.zeros((0, self.embedder.dim), np.float32)
        starts = np.cumsum([0, *counts])
        return [
            [
                {S.BBOX: box, S.LANDMARKS: points, S.DET_SCORE: float(score), S.EMBEDDING: vector}
                for box, points, score, vector in zip(d.boxes, d.landmarks, d.scores, vectors[start:start + len(d)])
            ]
            for d, start in zip(found, starts)
        ]

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = list(zip(*(batch.column(name).to_pylist() for name in (S.STATUS, S.WIDTH, S.HEIGHT, S.PIXELS))))
        ok = [i for i, (status, *_) in enumerate(rows) if status == S.STATUS_OK]
        faces: list[list[dict]] = [[] for _ in rows]
        for i, found in zip(ok, self.faces_of([pixels_of(rows[i][3], rows[i][1], rows[i][2]) for i in ok])):
            faces[i] = found
        statuses = [status if status != S.STATUS_OK or faces[i] else S.STATUS_NO_FACE for i, (status, *_) in enumerate(rows)]
        columns = {name: batch.column(name) for name in (S.URI, S.IMAGE_ID, S.ERROR, S.WIDTH, S.HEIGHT)}
        columns[S.STATUS] = pa.array(statuses, pa.string())
        columns[S.FACES] = pa.array(faces, self.schema.field(S.FACES).type)
        return pa.table(columns).select(self.schema.names).cast(self.schema)
