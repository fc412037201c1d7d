"""The tables' history: within the window kept, deleted rows stay in time travel; past it (or with none kept, as
forget asks) their files and log entries are gone, and every table still reads with its pins intact."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from deltalake import DeltaTable

from pipeline import schema as S
from pipeline.config import StorageConfig
from pipeline.io.history import expire_history
from pipeline.io.tables import FaceTables, TablesSnapshot, read_table
from tests.unit.io.test_library_layout import DIM, photos_of


def uris_in_files(dst: str, name: str) -> set[str]:
    """The uris of every Parquet data file of table ``name``, referenced or not."""
    files = [path for path in Path(dst, name).glob("**/*.parquet") if "_delta_log" not in path.parts]
    return {uri for path in files for uri in pq.read_table(path)[S.URI].to_pylist()}


def store_with_a_photo_removed(tmp_path: Path) -> tuple[str, int]:
    dst = str(tmp_path / "dst")
    tables = FaceTables(dst, StorageConfig(), DIM, "m", "d", library_buckets=4)
    tables.commit(*photos_of(["a", "b"]), [])
    before = tables.images.version()
    tables.remove(["a/0.jpg"])
    return dst, before


def test_within_the_window_deleted_rows_stay_in_time_travel(tmp_path: Path):
    dst, before = store_with_a_photo_removed(tmp_path)
    figures = expire_history(dst, None, keep_hours=24)
    assert all(table["data_files"] == 0 and table["log_files"] == 0 for table in figures.values())
    assert "a/0.jpg" in uris_in_files(dst, S.FACES_TABLE)
    assert "a/0.jpg" in DeltaTable(f"{dst}/{S.IMAGES_TABLE}", version=before).to_pyarrow_table()[S.URI].to_pylist()


def test_with_no_history_kept_deleted_rows_leave_every_file_and_the_tables_still_read(tmp_path: Path):
    dst, before = store_with_a_photo_removed(tmp_path)
    rows = {name: read_table(dst, name).sort_by(S.URI) for name in (S.IMAGES_TABLE, S.FACES_TABLE)}

    figures = expire_history(dst, None, keep_hours=0)

    assert figures[S.FACES_TABLE]["data_files"] >= 1 and figures[S.IMAGES_TABLE]["log_files"] >= 2
    for name in rows:
        assert "a/0.jpg" not in uris_in_files(dst, name)
        assert read_table(dst, name).sort_by(S.URI).equals(rows[name])
        table = DeltaTable(f"{dst}/{name}")
        commits = sorted(Path(dst, name, "_delta_log").glob("*.json"))
        assert [int(path.stem) for path in commits] == [table.version()], "the log starts at the current version"
    snapshot = TablesSnapshot(dst)
    pinned = int(snapshot.table(S.IMAGES_TABLE).history(1)[0][S.FACES_VERSION_KEY])
    assert pinned == DeltaTable(f"{dst}/{S.FACES_TABLE}").version(), "the images pin names the vacuumed faces"
    writer = FaceTables(dst, StorageConfig(), DIM, "m", "d")
    assert writer.repair() == 0, "the tables read as consistent: nothing to repair"
    writer.commit(*photos_of(["c"]), [])
    assert sorted(set(read_table(dst, S.FACES_TABLE)[S.LIBRARY].to_pylist())) == ["a", "b", "c"]
