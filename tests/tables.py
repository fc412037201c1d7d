"""Images and faces rows made up for tests that need committed tables without running the embed job."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from pipeline import schema as S


def images_table(
    uris: list[str], image_ids: list[str], num_faces: list[int], side: int = 100, size: int = 10
) -> pa.Table:
    """Images rows (IMAGES_SCHEMA) of decoded side x side photos: status ok with faces, else no_face;
    the columns not given are null (the signals among them)."""
    n, now = len(uris), dt.datetime.now(dt.timezone.utc)
    columns = {
        S.IMAGE_ID: image_ids,
        S.URI: uris,
        S.STATUS: [S.STATUS_OK if k else S.STATUS_NO_FACE for k in num_faces],
        S.NUM_FACES: num_faces,
        S.WIDTH: [side] * n,
        S.HEIGHT: [side] * n,
        S.SIZE: [size] * n,
        S.MTIME: [now] * n,
        S.RUN_ID: ["r"] * n,
        S.PROCESSED_AT: [now] * n,
    }
    return pa.table(
        {
            f.name: pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(n, f.type)
            for f in S.IMAGES_SCHEMA
        },
        schema=S.IMAGES_SCHEMA,
    )


def faces_table(
    face_ids: list[str], image_ids: list[str], uris: list[str], indexes: list[int], boxes: list[list[float]], dim: int
) -> pa.Table:
    """Faces rows (faces_schema(dim)) with these ids and boxes; embeddings are unit axes in turn."""
    n = len(face_ids)
    vectors = np.eye(dim, dtype=np.float32)[np.arange(n) % dim]
    return pa.table(
        {
            S.FACE_ID: face_ids,
            S.IMAGE_ID: image_ids,
            S.URI: uris,
            S.FACE_INDEX: pa.array(indexes, pa.int32()),
            S.BBOX: pa.array(boxes, pa.list_(pa.float32(), 4)),
            S.LANDMARKS: pa.array([[5.0] * 10] * n, pa.list_(pa.float32(), 10)),
            S.DET_SCORE: pa.array([0.9] * n, pa.float32()),
            S.EMBEDDING: pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim),
            S.MODEL: ["m"] * n,
            S.DETECTOR: ["d"] * n,
            S.RUN_ID: ["r"] * n,
        },
        schema=S.faces_schema(dim),
    )
