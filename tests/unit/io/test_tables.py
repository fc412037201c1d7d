"""The Delta commit protocol: batches, replacement, removal, and what a crash between commits leaves."""

from __future__ import annotations

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from pipeline import schema as S
from pipeline.config import StorageConfig
from pipeline.errors import ConfigError
from pipeline.io.library_layout import with_buckets
from pipeline.io.tables import FaceTables, TablesSnapshot, read_table, write_clustering
from tests.tables import earlier_tables, faces_table, images_table

DIM = 8


def images_rows(uris: list[str], image_id: str = "v1", faces: int = 1, library: str = S.DEFAULT_LIBRARY) -> pa.Table:
    return images_table(uris, [f"{u}-{image_id}" for u in uris], [faces] * len(uris), library=library)


def faces_rows(uris: list[str], image_id: str = "v1", faces: int = 1, library: str = S.DEFAULT_LIBRARY) -> pa.Table:
    rows = [(u, k) for u in uris for k in range(faces)]
    return faces_table(
        [f"{u}-{image_id}-{k}" for u, k in rows],
        [f"{u}-{image_id}" for u, _ in rows],
        [u for u, _ in rows],
        [k for _, k in rows],
        [[1, 2, 30, 40]] * len(rows),
        DIM,
        library=library,
    )


@pytest.fixture
def tables(tmp_path) -> FaceTables:
    return FaceTables(str(tmp_path / "dst"), StorageConfig(), DIM, "m", "d")


def test_batches_replacement_and_removal(tables: FaceTables):
    tables.commit(images_rows(["a", "b"]), faces_rows(["a", "b"]), [])
    tables.commit(images_rows(["c"], faces=2), faces_rows(["c"], faces=2), [])
    tables.commit(images_rows(["a"], "v2", faces=3), faces_rows(["a"], "v2", faces=3), ["a"])
    tables.remove(["b"])
    images = read_table(tables.tables, "images")
    faces = read_table(tables.tables, "faces")
    assert sorted(images[S.URI].to_pylist()) == ["a", "c"]
    assert sorted(faces[S.FACE_ID].to_pylist()) == ["a-v2-0", "a-v2-1", "a-v2-2", "c-v1-0", "c-v1-1"]
    assert faces.schema == S.faces_schema(DIM) and images.schema == S.IMAGES_SCHEMA
    assert tables.repair() == 0


def test_crash_between_faces_and_images_commit_is_invisible_and_repaired(tables: FaceTables):
    tables.commit(images_rows(["a"]), faces_rows(["a"]), [])
    # a crashed batch: its faces reached the table (in its buckets), its images commit never happened
    write_deltalake(tables.faces, with_buckets(faces_rows(["b", "c"]), tables.faces_buckets), mode="append")
    assert read_table(tables.tables, "faces")[S.URI].to_pylist() == ["a"]
    assert read_table(tables.tables, "images")[S.URI].to_pylist() == ["a"]
    again = FaceTables(tables.tables, StorageConfig(), DIM, "m", "d")
    assert again.repair() == 2
    assert again.faces.to_pyarrow_table()[S.URI].to_pylist() == ["a"]
    again.commit(images_rows(["b"]), faces_rows(["b"]), [])
    assert sorted(read_table(tables.tables, "faces")[S.URI].to_pylist()) == ["a", "b"]


def test_compaction_keeps_the_snapshot(tables: FaceTables):
    for uri in "abcdef":
        tables.commit(images_rows([uri]), faces_rows([uri]), [])
    before = sorted(read_table(tables.tables, "faces")[S.FACE_ID].to_pylist())
    tables.compact()
    assert sorted(read_table(tables.tables, "faces")[S.FACE_ID].to_pylist()) == before
    assert len(tables.faces.file_uris()) == 1
    assert tables.repair() == 0


def test_tables_of_other_models_are_refused(tables: FaceTables):
    with pytest.raises(ConfigError, match="other --tables"):
        FaceTables(tables.tables, StorageConfig(), DIM, "other-model", "d")


def test_reading_missing_tables_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no facepipe tables"):
        read_table(str(tmp_path / "nothing"), "images")
    with pytest.raises(ValueError, match="unknown table"):
        read_table(str(tmp_path), "people")


def test_tables_read_from_duckdb_and_pandas(tables: FaceTables):
    import duckdb

    tables.commit(images_rows(["a", "b"], faces=2), faces_rows(["a", "b"], faces=2), [])
    faces = read_table(tables.tables, "faces")  # noqa: F841 (DuckDB scans the Arrow table by its name)
    counts = duckdb.sql("SELECT uri, count(*) AS n FROM faces GROUP BY uri ORDER BY uri").fetchall()
    assert counts == [("a", 2), ("b", 2)]
    frame = read_table(tables.tables, "images").to_pandas()
    assert list(frame.sort_values("uri")["num_faces"]) == [2, 2]


def clustering_rows(faces: pa.Table, cluster: int, run: str) -> tuple[pa.Table, pa.Table]:
    """Every face in one cluster: the clusters rows and the persons row."""
    n = faces.num_rows
    clusters = pa.table(
        {
            S.SCOPE: [S.DEFAULT_SCOPE] * n,
            S.FACE_ID: faces[S.FACE_ID],
            S.IMAGE_ID: faces[S.IMAGE_ID],
            S.URI: faces[S.URI],
            S.LIBRARY: faces[S.LIBRARY],
            S.CLUSTER_ID: pa.array([cluster] * n, pa.int64()),
            S.CONFIDENCE: pa.array([1.0] * n, pa.float32()),
            S.RUN_ID: [run] * n,
        }
    )
    persons = pa.table(
        {
            S.SCOPE: [S.DEFAULT_SCOPE],
            S.CLUSTER_ID: pa.array([cluster], pa.int64()),
            S.NUM_FACES: pa.array([n], pa.int64()),
            S.REPRESENTATIVES: [faces[S.FACE_ID].to_pylist()[:2]],
            S.COVER_FACE: [faces[S.FACE_ID][0].as_py()],
            S.COVER_URI: [faces[S.URI][0].as_py()],
            S.COVER_BBOX: pa.array([[1, 2, 30, 40]], pa.list_(pa.float32(), 4)),
            S.RUN_ID: [run],
        }
    )
    return clusters, persons


def test_every_table_reads_through_one_api_with_storage_from_the_environment(s3_endpoint):
    # only the AWS_* variables say where S3 is: read_table resolves them as the CLI does (an http
    # endpoint needs AWS_ALLOW_HTTP for deltalake, which a bare read used to miss)
    import s3fs

    s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint}).mkdir("tables-api")
    dst = "s3://tables-api/library"
    tables = FaceTables(dst, StorageConfig(), DIM, "m", "d")
    tables.commit(images_rows(["a", "b"]), faces_rows(["a", "b"], faces=2), [])
    write_clustering(dst, *clustering_rows(read_table(dst, S.FACES_TABLE), 0, "c1"), None, 1, {"method": "graph"})

    read = {name: read_table(dst, name) for name in (S.IMAGES_TABLE, S.FACES_TABLE, S.CLUSTERS_TABLE, S.PERSONS_TABLE)}
    assert read[S.IMAGES_TABLE].num_rows == 2 and read[S.FACES_TABLE].num_rows == 4
    assert read[S.CLUSTERS_TABLE].num_rows == 4 and read[S.PERSONS_TABLE][S.NUM_FACES].to_pylist() == [4]
    assert read[S.FACES_TABLE].schema == S.faces_schema(DIM) and read[S.PERSONS_TABLE].schema == S.PERSONS_SCHEMA


def test_a_crash_between_clusters_and_persons_leaves_the_last_clustering(tables: FaceTables):
    tables.commit(images_rows(["a", "b"]), faces_rows(["a", "b"]), [])
    faces = read_table(tables.tables, S.FACES_TABLE)
    write_clustering(tables.tables, *clustering_rows(faces, 0, "first"), StorageConfig(), 1, {"run_id": "first"})
    clusters, _ = clustering_rows(faces, 7, "crashed")
    write_deltalake(f"{tables.tables}/{S.CLUSTERS_TABLE}", clusters, mode="overwrite")  # persons never written

    snapshot = TablesSnapshot(tables.tables)
    assert set(snapshot.read(S.CLUSTERS_TABLE)[S.RUN_ID].to_pylist()) == {"first"}
    assert snapshot.read(S.PERSONS_TABLE)[S.RUN_ID].to_pylist() == ["first"]
    assert snapshot.details(S.PERSONS_TABLE, S.CLUSTERING_KEY) == {"run_id": "first"}


def test_faces_read_in_default_batches_are_the_faces_read_in_small_ones(tables: FaceTables):
    for uri in "abcde":
        tables.commit(images_rows([uri], faces=3), faces_rows([uri], faces=3), [])
    faces = TablesSnapshot(tables.tables).faces()
    columns = [S.FACE_ID, S.EMBEDDING]
    assert faces.read(columns).num_rows == 15
    assert faces.read(columns).equals(faces.read(columns, rows=4))


def test_one_library_is_read_alone(tables: FaceTables):
    tables.commit(images_rows(["a1", "a2"], library="a"), faces_rows(["a1", "a2"], faces=2, library="a"), [])
    tables.commit(images_rows(["b1"], library="b"), faces_rows(["b1"], library="b"), [])

    assert sorted(read_table(tables.tables, S.IMAGES_TABLE, library="a")[S.URI].to_pylist()) == ["a1", "a2"]
    assert read_table(tables.tables, S.FACES_TABLE, library="b")[S.URI].to_pylist() == ["b1"]
    assert read_table(tables.tables, S.FACES_TABLE, libraries=["a", "b"]).num_rows == 5
    assert read_table(tables.tables, S.IMAGES_TABLE, library="nobody").num_rows == 0
    assert read_table(tables.tables, S.FACES_TABLE, library="a").schema == S.faces_schema(DIM)
    assert TablesSnapshot(tables.tables).libraries() == ["a", "b"]
    with pytest.raises(ValueError, match="not read by library"):
        read_table(tables.tables, S.RUNS_TABLE, library="a")


def test_rows_written_before_libraries_are_the_default_librarys(tmp_path):
    """Tables an earlier version wrote have no library column: their rows read as the default library's,
    and the next commit adds the column."""
    dst = str(tmp_path / "old")
    old_images = images_rows(["old"]).drop_columns([S.LIBRARY])
    old_faces = faces_rows(["old"]).drop_columns([S.LIBRARY])
    earlier_tables(dst, old_images, old_faces, DIM)
    assert read_table(dst, S.IMAGES_TABLE)[S.LIBRARY].to_pylist() == [S.DEFAULT_LIBRARY]
    assert read_table(dst, S.FACES_TABLE, library=S.DEFAULT_LIBRARY).num_rows == 1
    assert read_table(dst, S.FACES_TABLE, library="a").num_rows == 0

    again = FaceTables(dst, StorageConfig(), DIM, "m", "d")
    again.commit(images_rows(["new"], library="a"), faces_rows(["new"], library="a"), [])
    assert read_table(dst, S.FACES_TABLE, library=S.DEFAULT_LIBRARY)[S.URI].to_pylist() == ["old"]
    assert read_table(dst, S.IMAGES_TABLE, library="a")[S.URI].to_pylist() == ["new"]


def test_jobs_over_every_face_refuse_a_store_of_several_libraries(tables: FaceTables):
    """Dedup, the index and reports read every face: on tables of two libraries they would mix
    them, so they stop, naming the libraries; clustering and tags part them by scope themselves."""
    tables.commit(images_rows(["a1"], library="a"), faces_rows(["a1"], library="a"), [])
    assert TablesSnapshot(tables.tables).faces().read([S.FACE_ID]).num_rows == 1
    tables.commit(images_rows(["b1"], library="b"), faces_rows(["b1"], library="b"), [])
    with pytest.raises(ConfigError, match=r"holds the photos of 2 libraries \(a, b\)"):
        TablesSnapshot(tables.tables).faces()
    assert TablesSnapshot(tables.tables).faces(by_scope=True).read([S.FACE_ID]).num_rows == 2


def _in_scope(rows: pa.Table, scope: str) -> pa.Table:
    return rows.set_column(rows.schema.get_field_index(S.SCOPE), S.SCOPE, pa.array([scope] * rows.num_rows))


def test_a_write_of_some_scopes_replaces_theirs_only_in_one_commit_each(tables: FaceTables):
    tables.commit(images_rows(["a", "b"]), faces_rows(["a", "b"]), [])
    faces = read_table(tables.tables, S.FACES_TABLE)
    first = [
        (_in_scope(c, scope), _in_scope(p, scope))
        for scope, (c, p) in (
            ("library/x", clustering_rows(faces, 0, "first")),
            ("circle/o'k", clustering_rows(faces, 1, "first")),
        )
    ]
    clusters, persons = (pa.concat_tables(part) for part in zip(*first))
    write_clustering(tables.tables, clusters, persons, StorageConfig(), 1, {"run": 1})
    again = [_in_scope(rows, "circle/o'k") for rows in clustering_rows(faces, 2, "second")]
    versions = {name: TablesSnapshot(tables.tables).version(name) for name in (S.CLUSTERS_TABLE, S.PERSONS_TABLE)}
    write_clustering(tables.tables, *again, StorageConfig(), 1, {"run": 2}, scopes=["circle/o'k", "circle/gone"])

    snapshot = TablesSnapshot(tables.tables)
    rows = snapshot.read(S.PERSONS_TABLE)
    assert sorted(zip(rows[S.SCOPE].to_pylist(), rows[S.RUN_ID].to_pylist())) == [
        ("circle/o'k", "second"),
        ("library/x", "first"),
    ], "the scope written is replaced, the other kept"
    assert {name: snapshot.version(name) for name in versions} == {name: v + 1 for name, v in versions.items()}
    assert snapshot.details(S.PERSONS_TABLE, S.CLUSTERING_KEY) == {"run": 2}

    write_clustering(tables.tables, *(rows.slice(0, 0) for rows in again), StorageConfig(), 1, {"run": 3}, scopes=[])
    snapshot = TablesSnapshot(tables.tables)
    assert snapshot.read(S.CLUSTERS_TABLE).num_rows == 4, "nothing replaced"
    assert snapshot.details(S.PERSONS_TABLE, S.CLUSTERING_KEY) == {"run": 3}, "what it was made from, recorded"
