"""The Delta commit protocol: batches, replacement, removal, and what a crash between commits leaves."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from pipeline import schema as S
from pipeline.config import ConfigError, StorageConfig
from pipeline.tables import FaceTables, read_table

DIM = 8


def images_rows(uris: list[str], image_id: str = "v1", faces: int = 1) -> pa.Table:
    now = dt.datetime.now(dt.timezone.utc)
    n = len(uris)
    return pa.table(
        {
            S.IMAGE_ID: [f"{u}-{image_id}" for u in uris],
            S.URI: uris,
            S.STATUS: ["ok"] * n,
            S.ERROR: [None] * n,
            S.NUM_FACES: pa.array([faces] * n, pa.int32()),
            S.WIDTH: pa.array([100] * n, pa.int32()),
            S.HEIGHT: pa.array([100] * n, pa.int32()),
            S.SIZE: pa.array([10] * n, pa.int64()),
            S.MTIME: pa.array([now] * n, S.TIMESTAMP),
            S.ETAG: [None] * n,
            S.RUN_ID: ["r"] * n,
            S.PROCESSED_AT: pa.array([now] * n, S.TIMESTAMP),
        },
        schema=S.IMAGES_SCHEMA,
    )


def faces_rows(uris: list[str], image_id: str = "v1", faces: int = 1) -> pa.Table:
    rows = [(u, k) for u in uris for k in range(faces)]
    n = len(rows)
    vectors = np.eye(DIM, dtype=np.float32)[np.arange(n) % DIM]
    return pa.table(
        {
            S.FACE_ID: [f"{u}-{image_id}-{k}" for u, k in rows],
            S.IMAGE_ID: [f"{u}-{image_id}" for u, _ in rows],
            S.URI: [u for u, _ in rows],
            S.FACE_INDEX: pa.array([k for _, k in rows], pa.int32()),
            S.BBOX: pa.array([[1, 2, 30, 40]] * n, pa.list_(pa.float32(), 4)),
            S.LANDMARKS: pa.array([[5.0] * 10] * n, pa.list_(pa.float32(), 10)),
            S.DET_SCORE: pa.array([0.9] * n, pa.float32()),
            S.EMBEDDING: pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
            S.MODEL: ["m"] * n,
            S.DETECTOR: ["d"] * n,
            S.RUN_ID: ["r"] * n,
        },
        schema=S.faces_schema(DIM),
    )


@pytest.fixture
def tables(tmp_path) -> FaceTables:
    return FaceTables(str(tmp_path / "dst"), StorageConfig(), DIM, "m", "d")


def test_batches_replacement_and_removal(tables: FaceTables):
    tables.commit(images_rows(["a", "b"]), faces_rows(["a", "b"]), [])
    tables.commit(images_rows(["c"], faces=2), faces_rows(["c"], faces=2), [])
    tables.commit(images_rows(["a"], "v2", faces=3), faces_rows(["a"], "v2", faces=3), ["a"])
    tables.remove(["b"])
    images = read_table(tables.dst, "images")
    faces = read_table(tables.dst, "faces")
    assert sorted(images[S.URI].to_pylist()) == ["a", "c"]
    assert sorted(faces[S.FACE_ID].to_pylist()) == ["a-v2-0", "a-v2-1", "a-v2-2", "c-v1-0", "c-v1-1"]
    assert faces.schema == S.faces_schema(DIM) and images.schema == S.IMAGES_SCHEMA
    assert tables.repair() == 0


def test_crash_between_faces_and_images_commit_is_invisible_and_repaired(tables: FaceTables):
    tables.commit(images_rows(["a"]), faces_rows(["a"]), [])
    # a crashed batch: its faces reached the table, its images commit never happened
    write_deltalake(tables.faces, faces_rows(["b", "c"]), mode="append")
    assert read_table(tables.dst, "faces")[S.URI].to_pylist() == ["a"]
    assert read_table(tables.dst, "images")[S.URI].to_pylist() == ["a"]
    again = FaceTables(tables.dst, StorageConfig(), DIM, "m", "d")
    assert again.repair() == 2
    assert again.faces.to_pyarrow_table()[S.URI].to_pylist() == ["a"]
    again.commit(images_rows(["b"]), faces_rows(["b"]), [])
    assert sorted(read_table(tables.dst, "faces")[S.URI].to_pylist()) == ["a", "b"]


def test_compaction_keeps_the_snapshot(tables: FaceTables):
    for uri in "abcdef":
        tables.commit(images_rows([uri]), faces_rows([uri]), [])
    before = sorted(read_table(tables.dst, "faces")[S.FACE_ID].to_pylist())
    tables.compact()
    assert sorted(read_table(tables.dst, "faces")[S.FACE_ID].to_pylist()) == before
    assert len(tables.faces.file_uris()) == 1
    assert tables.repair() == 0


def test_tables_of_other_models_are_refused(tables: FaceTables):
    with pytest.raises(ConfigError, match="another --output"):
        FaceTables(tables.dst, StorageConfig(), DIM, "other-model", "d")


def test_reading_missing_tables_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no facepipe tables"):
        read_table(str(tmp_path / "nothing"), "images")
    with pytest.raises(ValueError, match="unknown table"):
        read_table(str(tmp_path), "people")


def test_tables_read_from_duckdb_and_pandas(tables: FaceTables):
    import duckdb

    tables.commit(images_rows(["a", "b"], faces=2), faces_rows(["a", "b"], faces=2), [])
    faces = read_table(tables.dst, "faces")  # noqa: F841 (DuckDB scans the Arrow table by its name)
    counts = duckdb.sql("SELECT uri, count(*) AS n FROM faces GROUP BY uri ORDER BY uri").fetchall()
    assert counts == [("a", 2), ("b", 2)]
    frame = read_table(tables.dst, "images").to_pandas()
    assert list(frame.sort_values("uri")["num_faces"]) == [2, 2]
