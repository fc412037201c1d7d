"""Images and faces rows made up for tests that need committed tables without running the embed job."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake

from pipeline import schema as S


def images_table(
    uris: list[str],
    image_ids: list[str],
    num_faces: list[int],
    side: int = 100,
    size: int = 10,
    library: str = S.DEFAULT_LIBRARY,
) -> pa.Table:
    """Images rows (IMAGES_SCHEMA) of decoded side x side photos of ``library``: status ok with faces,
    else no_face; the columns not given are null (the fingerprints among them)."""
    n, now = len(uris), dt.datetime.now(dt.timezone.utc)
    columns = {
        S.IMAGE_ID: image_ids,
        S.URI: uris,
        S.LIBRARY: [library] * n,
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
    face_ids: list[str],
    image_ids: list[str],
    uris: list[str],
    indexes: list[int],
    boxes: list[list[float]],
    dim: int,
    vectors: np.ndarray | None = None,
    model: str = "m",
    library: str = S.DEFAULT_LIBRARY,
) -> pa.Table:
    """Faces rows (faces_schema(dim)) of ``library`` with these ids, boxes and embeddings (default: unit
    axes in turn) of ``model``."""
    n = len(face_ids)
    vectors = np.eye(dim, dtype=np.float32)[np.arange(n) % dim] if vectors is None else vectors.astype(np.float32)
    return pa.table(
        {
            S.FACE_ID: face_ids,
            S.IMAGE_ID: image_ids,
            S.URI: uris,
            S.LIBRARY: [library] * n,
            S.FACE_INDEX: pa.array(indexes, pa.int32()),
            S.BBOX: pa.array(boxes, pa.list_(pa.float32(), 4)),
            S.LANDMARKS: pa.array([[5.0] * 10] * n, pa.list_(pa.float32(), 10)),
            S.DET_SCORE: pa.array([0.9] * n, pa.float32()),
            S.EMBEDDING: pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim),
            S.MODEL: [model] * n,
            S.DETECTOR: ["d"] * n,
            S.RUN_ID: ["r"] * n,
        },
        schema=S.faces_schema(dim),
    )


def earlier_tables(dst: str, images: pa.Table, faces: pa.Table, dim: int, model: str = "m") -> None:
    """Images and faces tables at ``dst`` as versions before the library layout wrote them: not partitioned,
    holding ``images`` and ``faces`` (rows of versions before libraries lack the library column)."""
    description = json.dumps({"facepipe": {"model": model, "detector": "d", "embedding_dim": dim}})
    write_deltalake(f"{dst}/{S.FACES_TABLE}", faces, description=description)
    pin = {S.FACES_VERSION_KEY: str(DeltaTable(f"{dst}/{S.FACES_TABLE}").version())}
    write_deltalake(f"{dst}/{S.IMAGES_TABLE}", images, commit_properties=CommitProperties(custom_metadata=pin))


def people_vectors(sizes: dict[str, int], dim: int = 64, seed: int = 0, spread: float = 0.4, like: dict | None = None):
    """Unit embeddings of made-up people: (names, vectors), ``sizes[person]`` faces each, two faces of one
    person about 1 / (1 + spread) similar (0.71), of two people about 0; ``like``: person -> (other,
    similarity of their centres) for look-alikes."""
    rng = np.random.default_rng(seed)
    centres = {person: rng.normal(size=dim) for person in sizes}
    centres = {person: c / np.linalg.norm(c) for person, c in centres.items()}
    for person, (other, similarity) in (like or {}).items():
        away = centres[person] - centres[person] @ centres[other] * centres[other]
        centres[person] = similarity * centres[other] + np.sqrt(1 - similarity**2) * away / np.linalg.norm(away)
    names = [person for person, count in sizes.items() for _ in range(count)]
    vectors = np.array([centres[p] for p in names]) + rng.normal(scale=np.sqrt(spread / dim), size=(len(names), dim))
    return names, (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
