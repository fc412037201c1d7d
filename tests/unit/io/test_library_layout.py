"""The library layout of the images and faces tables: reading one library of a store of many opens few files and
returns exactly its rows, tables written before the layout still read, and maintenance keeps rows and pins."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

from pipeline import schema as S
from pipeline.config import StorageConfig
from pipeline.io.library_layout import BUCKET, bucket_of
from pipeline.io.maintenance import maintain_tables
from pipeline.io.tables import FaceTables, TablesSnapshot, read_table
from tests.tables import earlier_tables, faces_table, images_table

DIM = 4
BUCKETS = 8
LIBRARIES = [f"lib{k:03d}" for k in range(60)] + ["o'brien"]  # a quote: ids are quoted in the file predicate


def photos_of(libraries: list[str], photos: int = 2) -> tuple[pa.Table, pa.Table]:
    """Images and faces rows (a face per photo) of ``photos`` photos in each of ``libraries``."""
    images, faces = [], []
    for library in libraries:
        uris = [f"{library}/{k}.jpg" for k in range(photos)]
        images.append(images_table(uris, [f"{u}-v1" for u in uris], [1] * photos, library=library))
        faces.append(
            faces_table(
                [f"{u}-f" for u in uris],
                [f"{u}-v1" for u in uris],
                uris,
                [0] * photos,
                [[1, 2, 3, 4]] * photos,
                DIM,
                library=library,
            )
        )
    return pa.concat_tables(images), pa.concat_tables(faces)


def filtered_after_a_full_scan(dst: str, name: str, libraries: list[str]) -> pa.Table:
    rows = read_table(dst, name)
    return rows.filter(pc.is_in(rows[S.LIBRARY], pa.array(libraries)))


def sorted_rows(rows: pa.Table) -> pa.Table:
    return rows.sort_by(S.URI if S.FACE_ID not in rows.column_names else S.FACE_ID)


@pytest.fixture(scope="module")
def store_of_many(tmp_path_factory) -> str:
    """61 libraries written in commits of 4 libraries each, as the embed commits mixed batches."""
    dst = str(tmp_path_factory.mktemp("many") / "dst")
    tables = FaceTables(dst, StorageConfig(), DIM, "m", "d", library_buckets=BUCKETS)
    for start in range(0, len(LIBRARIES), 4):
        tables.commit(*photos_of(LIBRARIES[start : start + 4]), [])
    return dst


@pytest.mark.parametrize("name", [S.IMAGES_TABLE, S.FACES_TABLE])
def test_one_library_is_read_from_few_files(store_of_many: str, name: str):
    snapshot = TablesSnapshot(store_of_many)
    every_file = len(snapshot.table(name).file_uris())
    assert every_file >= 40  # a commit's libraries fall in several buckets: a file per bucket per commit
    for library in ("lib007", "o'brien"):
        rows = read_table(store_of_many, name, library=library)
        assert sorted(rows[S.URI].to_pylist()) == [f"{library}/0.jpg", f"{library}/1.jpg"]
        assert sorted_rows(rows).equals(sorted_rows(filtered_after_a_full_scan(store_of_many, name, [library])))
        assert len(snapshot.files(name, [library])) == 1  # its bucket's one file of its commit
    assert BUCKET not in read_table(store_of_many, name).column_names
    assert read_table(store_of_many, name, library="nobody").num_rows == 0


def test_several_libraries_are_read_from_their_files_only(store_of_many: str):
    wanted = ["lib001", "lib030", "lib059"]
    rows = read_table(store_of_many, S.FACES_TABLE, libraries=wanted)
    assert sorted_rows(rows).equals(sorted_rows(filtered_after_a_full_scan(store_of_many, S.FACES_TABLE, wanted)))
    assert rows.schema == S.faces_schema(DIM)
    assert len(TablesSnapshot(store_of_many).files(S.FACES_TABLE, wanted)) == 3


def test_the_bucket_count_is_the_tables_own(tmp_path):
    dst = str(tmp_path / "dst")
    FaceTables(dst, StorageConfig(), DIM, "m", "d", library_buckets=BUCKETS)
    later = FaceTables(dst, StorageConfig(), DIM, "m", "d", library_buckets=3)
    assert (later.images_buckets, later.faces_buckets) == (BUCKETS, BUCKETS)
    later.commit(*photos_of(["x"]), [])
    written = pa.table(DeltaTable(f"{dst}/{S.FACES_TABLE}").get_add_actions(flatten=True))
    assert written[f"partition.{BUCKET}"].to_pylist() == [bucket_of("x", BUCKETS)]


def test_tables_written_before_the_layout_still_read_and_write(tmp_path):
    dst = str(tmp_path / "old")
    earlier_tables(dst, *photos_of(["a", "b"]), DIM)
    tables = FaceTables(dst, StorageConfig(), DIM, "m", "d")
    assert (tables.images_buckets, tables.faces_buckets) == (None, None)
    tables.commit(*photos_of(["c"]), [])
    assert read_table(dst, S.FACES_TABLE, library="c")[S.URI].to_pylist() == ["c/0.jpg", "c/1.jpg"]
    assert sorted(read_table(dst, S.IMAGES_TABLE, libraries=["a", "c"])[S.URI].to_pylist()) == [
        "a/0.jpg",
        "a/1.jpg",
        "c/0.jpg",
        "c/1.jpg",
    ]
    assert len(TablesSnapshot(dst).files(S.FACES_TABLE, ["c"])) == 1  # its statistics skip the earlier file
    maintain_tables(dst)
    assert sorted(read_table(dst, S.FACES_TABLE)[S.LIBRARY].to_pylist()) == ["a", "a", "b", "b", "c", "c"]


def pinned_faces_version(dst: str) -> int:
    return int(TablesSnapshot(dst).table(S.IMAGES_TABLE).history(1)[0][S.FACES_VERSION_KEY])


def test_maintenance_merges_small_files_and_keeps_rows_and_pins(tmp_path):
    dst = str(tmp_path / "dst")
    tables = FaceTables(dst, StorageConfig(), DIM, "m", "d", library_buckets=BUCKETS)
    for start in range(0, 24, 4):
        tables.commit(*photos_of(LIBRARIES[start : start + 4]), [])
    before = {name: sorted_rows(read_table(dst, name)) for name in (S.IMAGES_TABLE, S.FACES_TABLE)}
    versions_before = {name: DeltaTable(f"{dst}/{name}").version() for name in before}

    figures = maintain_tables(dst)
    versions_after = {name: DeltaTable(f"{dst}/{name}").version() for name in before}
    assert all(versions_after[name] == versions_before[name] + 1 for name in before)  # one commit, whatever the buckets

    for name, rows in before.items():
        assert sorted_rows(read_table(dst, name)).equals(rows)
        files = DeltaTable(f"{dst}/{name}").get_add_actions(flatten=True)
        assert len(files) == len(set(pa.table(files)[f"partition.{BUCKET}"].to_pylist()))  # one file per bucket
        assert figures["compacted"][name]["files_after"] == len(files) < figures["compacted"][name]["files_before"]
    assert pinned_faces_version(dst) == versions_after[S.FACES_TABLE]
    assert set(figures["checkpointed"]) == {S.IMAGES_TABLE, S.FACES_TABLE}
    assert len(TablesSnapshot(dst).files(S.FACES_TABLE, ["lib005"])) == 1

    maintain_tables(dst)  # nothing left to merge: no commit
    assert {name: DeltaTable(f"{dst}/{name}").version() for name in before} == versions_after


def test_on_s3(s3_endpoint):
    import s3fs

    s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint}).mkdir("layout")
    dst = "s3://layout/store"
    tables = FaceTables(dst, StorageConfig(), DIM, "m", "d", library_buckets=BUCKETS)
    for start in range(0, 12, 4):
        tables.commit(*photos_of(LIBRARIES[start : start + 4]), [])
    maintain_tables(dst)
    rows = read_table(dst, S.FACES_TABLE, library="lib006")
    assert rows[S.URI].to_pylist() == ["lib006/0.jpg", "lib006/1.jpg"]
    assert len(TablesSnapshot(dst).files(S.FACES_TABLE, ["lib006"])) == 1
    assert pinned_faces_version(dst) == TablesSnapshot(dst).version(S.FACES_TABLE)
