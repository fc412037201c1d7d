"""Checks every table invariant of the embed job against the photos actually present in SRC."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np

from pipeline.config import StorageConfig
from pipeline.io.tables import read_table

STATUSES = {"ok", "no_face", "error"}


def check_tables(dst: str, photos: dict[str, bytes], storage: StorageConfig | None = None):
    """Assert the tables at ``dst`` describe exactly ``photos`` (uri -> current bytes); return (images, faces)."""
    images = read_table(dst, "images", storage).to_pylist()
    faces = read_table(dst, "faces", storage).to_pylist()
    uris = [row["uri"] for row in images]
    assert len(uris) == len(set(uris)), "an images row is duplicated"
    assert set(uris) == set(photos), (
        f"rows differ from SRC: extra {set(uris) - set(photos)}, missing {set(photos) - set(uris)}"
    )
    by_uri = {row["uri"]: row for row in images}
    face_count = Counter(face["uri"] for face in faces)
    for uri, row in by_uri.items():
        assert row["status"] in STATUSES
        if photos[uri]:
            assert row["image_id"] == hashlib.sha256(photos[uri]).hexdigest(), uri
        assert row["size"] == len(photos[uri]), uri
        assert row["num_faces"] == face_count.get(uri, 0), uri
        if row["status"] == "error":
            assert row["error"] and ":" in row["error"], uri
            assert row["width"] is None and row["height"] is None, uri
        else:
            assert row["error"] is None, uri
            assert row["width"] > 0 and row["height"] > 0, uri
        assert (row["status"] == "ok") == (row["num_faces"] > 0), uri
    assert len({face["face_id"] for face in faces}) == len(faces), "a face_id is duplicated"
    for face in faces:
        row = by_uri[face["uri"]]
        assert face["image_id"] == row["image_id"]
        x1, y1, x2, y2 = face["bbox"]
        assert 0 <= x1 < x2 <= row["width"] and 0 <= y1 < y2 <= row["height"], face["uri"]
        assert len(face["landmarks"]) == 10
        assert 0 < face["det_score"] <= 1
        assert abs(np.linalg.norm(face["embedding"]) - 1) < 1e-4
        assert face["model"] and face["detector"]
    indexes = Counter((face["uri"], face["face_index"]) for face in faces)
    assert max(indexes.values(), default=1) == 1
    return by_uri, faces
