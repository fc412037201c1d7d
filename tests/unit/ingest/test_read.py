"""The read stage: bytes and content ids, read failures as error rows."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pyarrow as pa

from pipeline import schema as S
from pipeline.config import InputConfig, StorageConfig
from pipeline.ingest.read import read_photos
from pipeline.io.store import list_photos

LOCAL = StorageConfig()
EXTENSIONS = InputConfig().extensions


def test_read_photos_returns_bytes_and_sha256_ids(photo_folder: Path) -> None:
    listing = list_photos(str(photo_folder), LOCAL, EXTENSIONS)

    read = read_photos(listing.select([S.URI]), LOCAL)

    assert read.schema == S.READ_SCHEMA
    assert read.column(S.URI).to_pylist() == listing.column(S.URI).to_pylist()
    for row in read.to_pylist():
        data = Path(row[S.URI]).read_bytes()
        assert row[S.BYTES] == data
        assert row[S.IMAGE_ID] == hashlib.sha256(data).hexdigest()
        assert row[S.ERROR] is None


def test_read_photos_turns_a_vanished_file_into_an_error_row(photo_folder: Path) -> None:
    listing = list_photos(str(photo_folder), LOCAL, EXTENSIONS)
    vanished = str(photo_folder / "b.Jpeg")
    os.remove(vanished)

    rows = read_photos(listing.select([S.URI]), LOCAL).to_pylist()

    assert [row[S.URI] for row in rows] == listing.column(S.URI).to_pylist()  # every input once, in order
    by_uri = {row[S.URI]: row for row in rows}
    assert by_uri[vanished][S.ERROR].startswith("read_failed:")
    assert by_uri[vanished][S.IMAGE_ID] is None
    assert by_uri[vanished][S.BYTES] == b""
    others = [row for uri, row in by_uri.items() if uri != vanished]
    assert all(row[S.ERROR] is None and row[S.IMAGE_ID] for row in others)


def test_read_photos_of_an_empty_batch_is_empty() -> None:
    read = read_photos(pa.table({S.URI: pa.array([], pa.string())}), LOCAL)

    assert read.num_rows == 0
    assert read.schema == S.READ_SCHEMA


def test_identical_content_gets_the_same_image_id(tmp_path: Path) -> None:
    (tmp_path / "one.jpg").write_bytes(b"same bytes")
    (tmp_path / "two.jpg").write_bytes(b"same bytes")
    (tmp_path / "three.jpg").write_bytes(b"other bytes")
    listing = list_photos(str(tmp_path), LOCAL, EXTENSIONS)

    ids = dict(zip(*(read_photos(listing, LOCAL).column(c).to_pylist() for c in (S.URI, S.IMAGE_ID))))

    assert ids[str(tmp_path / "one.jpg")] == ids[str(tmp_path / "two.jpg")]
    assert ids[str(tmp_path / "one.jpg")] != ids[str(tmp_path / "three.jpg")]
