"""Turning per-photo outcome rows into images and faces rows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from pipeline import schema as S
from pipeline.ingest.embed_job import face_ids, split_rows
from pipeline.ingest.timing import zero_seconds


def fingerprints(name: str) -> dict:
    return {S.SHA256: f"sha-{name}", S.PDQ: b"\x01" * 32, S.PDQ_VARIANTS: [b"\x02" * 32] * 7, S.GREYSCALE: False}


def test_split_rows_explodes_faces_in_order():
    dim = 4
    face = lambda k: {S.BBOX: [k, k, k + 1, k + 1], S.LANDMARKS: [k] * 10, S.DET_SCORE: 0.5, S.EMBEDDING: [1, 0, 0, 0]}
    analyzed = pa.table(
        {
            S.URI: ["a", "b", "c"],
            S.IMAGE_ID: ["ia", "ib", None],
            S.STATUS: ["ok", "no_face", "error"],
            S.ERROR: [None, None, "decode_failed: x"],
            S.WIDTH: pa.array([9, 9, None], pa.int32()),
            S.HEIGHT: pa.array([9, 9, None], pa.int32()),
            S.FACES: [[face(0), face(1), face(2)], [], []],
            S.FINGERPRINTS_COLUMN: [fingerprints("a"), fingerprints("b"), None],
            S.SECONDS: zero_seconds(3),
        },
        schema=S.analyzed_schema(dim),
    )
    now = dt.datetime.now(dt.timezone.utc)
    listing = pa.table(
        {S.URI: ["c", "b", "a"], S.SIZE: [3, 2, 1], S.MTIME: [now] * 3, S.ETAG: [None] * 3, S.LIBRARY: ["y", "x", "z"]},
        schema=S.LISTING_SCHEMA,
    )
    images, faces = split_rows(analyzed, listing, "run", "model", "det")
    assert images[S.NUM_FACES].to_pylist() == [3, 0, 0]
    assert images[S.LIBRARY].to_pylist() == ["z", "x", "y"], "each photo's library, from its listing row"
    assert faces[S.LIBRARY].to_pylist() == ["z"] * 3, "a face's library: its photo's"
    assert images[S.SIZE].to_pylist() == [1, 2, 3]
    assert images[S.SHA256].to_pylist() == ["sha-a", "sha-b", None], "each photo's fingerprints, none for an error"
    assert images[S.PDQ_VARIANTS].to_pylist()[1] == [b"\x02" * 32] * 7
    assert images[S.JPEG_QUALITY].to_pylist() == [None] * 3
    assert faces[S.URI].to_pylist() == ["a", "a", "a"]
    assert faces[S.FACE_INDEX].to_pylist() == [0, 1, 2]
    assert [b[0] for b in faces[S.BBOX].to_pylist()] == [0, 1, 2]
    assert faces[S.FACE_ID].to_pylist() == face_ids(["a"] * 3, ["ia"] * 3, [0, 1, 2])
    assert len(set(faces[S.FACE_ID].to_pylist())) == 3
    np.testing.assert_allclose(np.stack(faces[S.EMBEDDING].to_numpy(zero_copy_only=False)), [[1, 0, 0, 0]] * 3)


def test_face_ids_depend_on_uri_content_and_rank():
    base = face_ids(["a"], ["x"], [0])[0]
    assert base != face_ids(["b"], ["x"], [0])[0]
    assert base != face_ids(["a"], ["y"], [0])[0]
    assert base != face_ids(["a"], ["x"], [1])[0]
    assert base == face_ids(["a"], ["x"], [0])[0]
