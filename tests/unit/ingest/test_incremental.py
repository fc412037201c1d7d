"""Tests for incremental planning: new, changed, retried, unchanged and removed photos."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from pipeline import schema as S
from pipeline.errors import ConfigError
from pipeline.ingest.incremental import plan_run

T0 = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
T1 = T0 + dt.timedelta(seconds=1)


def _listing(rows: list[tuple[str, int, dt.datetime | None, str | None]]) -> pa.Table:
    return pa.Table.from_pylist(
        [{S.URI: uri, S.SIZE: size, S.MTIME: mtime, S.ETAG: etag} for uri, size, mtime, etag in rows],
        schema=S.LISTING_SCHEMA,
    )


def _committed(rows: list[tuple[str, int, dt.datetime | None, str | None, str | None]]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                S.IMAGE_ID: f"id-{uri}",
                S.URI: uri,
                S.STATUS: S.STATUS_ERROR if error else S.STATUS_OK,
                S.ERROR: error,
                S.NUM_FACES: None if error else 1,
                S.SIZE: size,
                S.MTIME: mtime,
                S.ETAG: etag,
                S.RUN_ID: "run-1",
                S.PROCESSED_AT: T0,
            }
            for uri, size, mtime, etag, error in rows
        ],
        schema=S.IMAGES_SCHEMA,
    )


LISTING = _listing(
    [
        ("/src/new.jpg", 10, T0, None),
        ("/src/same.jpg", 20, T0, None),
        ("s3://b/same-etag.jpg", 25, T0, "abc"),
        ("/src/resized.jpg", 31, T0, None),
        ("/src/touched.jpg", 40, T1, None),
        ("s3://b/rewritten.jpg", 50, T0, "new-etag"),
        ("/src/read-failed.jpg", 60, T0, None),
        ("/src/decode-failed.jpg", 70, T0, None),
        ("/src/read-failed-and-changed.jpg", 81, T0, None),
    ]
)
COMMITTED = _committed(
    [
        ("/src/same.jpg", 20, T0, None, None),
        ("s3://b/same-etag.jpg", 25, T0, "abc", None),
        ("/src/resized.jpg", 30, T0, None, None),
        ("/src/touched.jpg", 40, T0, None, None),
        ("s3://b/rewritten.jpg", 50, T0, "old-etag", None),
        ("/src/read-failed.jpg", 60, T0, None, "read_failed: ConnectionError: reset by peer"),
        ("/src/decode-failed.jpg", 70, T0, None, "decode_failed: OSError: image file is truncated"),
        ("/src/read-failed-and-changed.jpg", 80, T0, None, "read_failed: TimeoutError: slow"),
        ("/src/deleted-b.jpg", 90, T0, None, None),
        ("/src/deleted-a.jpg", 91, T0, None, None),
    ]
)


def test_plan_sorts_photos_into_new_changed_retried_unchanged_removed() -> None:
    plan = plan_run(LISTING, COMMITTED)

    assert plan.new == ["/src/new.jpg"]
    assert sorted(plan.changed) == sorted(
        ["/src/resized.jpg", "/src/touched.jpg", "s3://b/rewritten.jpg", "/src/read-failed-and-changed.jpg"]
    )
    assert plan.retried == ["/src/read-failed.jpg"]
    assert plan.unchanged == 3  # same.jpg, same-etag.jpg, decode-failed.jpg
    assert plan.removed == ["/src/deleted-a.jpg", "/src/deleted-b.jpg"]
    assert sorted(plan.replaced) == sorted(plan.changed + plan.retried)


def test_todo_holds_exactly_the_new_changed_and_retried_listing_rows() -> None:
    plan = plan_run(LISTING, COMMITTED)

    assert plan.todo.schema == S.LISTING_SCHEMA
    todo_uris = plan.todo.column(S.URI).to_pylist()
    assert len(todo_uris) == len(set(todo_uris))
    assert set(todo_uris) == set(plan.new + plan.changed + plan.retried)
    listed = {row[S.URI]: row for row in LISTING.to_pylist()}
    for row in plan.todo.to_pylist():
        # the current listing's size/mtime/etag, not the old ones; a library not named is the default one
        assert row == {**listed[row[S.URI]], S.LIBRARY: S.DEFAULT_LIBRARY}
    assert "/src/decode-failed.jpg" not in todo_uris
    assert "/src/same.jpg" not in todo_uris


def test_counts_add_up_to_the_listing() -> None:
    plan = plan_run(LISTING, COMMITTED)

    assert len(plan.new) + len(plan.changed) + len(plan.retried) + plan.unchanged == LISTING.num_rows
    assert plan.todo.num_rows + plan.unchanged == LISTING.num_rows


def test_nothing_committed_means_everything_is_new() -> None:
    plan = plan_run(LISTING, COMMITTED.slice(0, 0))

    assert plan.new == LISTING.column(S.URI).to_pylist()
    assert plan.changed == [] and plan.retried == [] and plan.removed == []
    assert plan.unchanged == 0
    assert plan.todo.num_rows == LISTING.num_rows


def test_rerun_after_everything_committed_has_nothing_to_do() -> None:
    committed = _committed([(row[S.URI], row[S.SIZE], row[S.MTIME], row[S.ETAG], None) for row in LISTING.to_pylist()])

    plan = plan_run(LISTING, committed)

    assert plan.todo.num_rows == 0
    assert plan.new == [] and plan.changed == [] and plan.retried == [] and plan.removed == []
    assert plan.unchanged == LISTING.num_rows


def test_same_instant_in_another_timezone_is_unchanged() -> None:
    listing = _listing([("/src/a.jpg", 10, T0.astimezone(dt.timezone(dt.timedelta(hours=2))), None)])
    committed = _committed([("/src/a.jpg", 10, T0, None, None)])

    plan = plan_run(listing, committed)

    assert plan.unchanged == 1 and plan.todo.num_rows == 0


def test_empty_listing_removes_everything_committed() -> None:
    plan = plan_run(LISTING.slice(0, 0), COMMITTED)

    assert plan.todo.num_rows == 0 and plan.unchanged == 0
    assert plan.removed == sorted(COMMITTED.column(S.URI).to_pylist())


def test_photos_without_fingerprints_or_keypoints_are_fingerprinted_unless_those_are_off() -> None:
    rows = COMMITTED.to_pylist()
    for row in rows:
        row[S.SHA256] = None if row[S.URI] == "/src/same.jpg" else "f" * 64  # an earlier version's row
        row[S.KEYPOINTS] = b"" if row[S.URI] == "/src/same.jpg" else None  # written with decode.keypoints off
    committed = pa.Table.from_pylist(rows, schema=S.IMAGES_SCHEMA)

    assert plan_run(LISTING, committed).unfingerprinted == ["/src/same.jpg", "s3://b/same-etag.jpg"]
    assert plan_run(LISTING, committed, keypoints=False).unfingerprinted == ["/src/same.jpg"]
    assert plan_run(LISTING, committed, fingerprints=False).unfingerprinted == []


def _in_library(rows: pa.Table, libraries: list[str | None]) -> pa.Table:
    return rows.set_column(rows.schema.get_field_index(S.LIBRARY), S.LIBRARY, pa.array(libraries, pa.string()))


def test_a_library_is_reconciled_alone() -> None:
    """Photos of library b that a listing of library a does not name stay; a's photos gone from it go.
    Rows written before libraries (null) are the default library's."""
    committed = _in_library(
        _committed([(u, 1, T0, None, None) for u in ("/a/1.jpg", "/a/gone.jpg", "/b/1.jpg", "/old/1.jpg")]),
        ["a", "a", "b", None],
    )
    listing = _in_library(_listing([("/a/1.jpg", 1, T0, None), ("/a/2.jpg", 1, T0, None)]), ["a", "a"])

    plan = plan_run(listing, committed)

    assert plan.removed == ["/a/gone.jpg"] and plan.new == ["/a/2.jpg"] and plan.unchanged == 1
    assert plan.todo[S.LIBRARY].to_pylist() == ["a"]
    assert plan_run(listing.slice(0, 0), committed, libraries={"a"}).removed == ["/a/1.jpg", "/a/gone.jpg"]
    assert plan_run(listing.slice(0, 0), committed, libraries={S.DEFAULT_LIBRARY}).removed == ["/old/1.jpg"]
    assert plan_run(_listing([]), committed).removed == ["/old/1.jpg"], "no library named: the default one"


def test_a_photo_committed_in_another_library_is_refused() -> None:
    committed = _in_library(_committed([("/x/1.jpg", 1, T0, None, None)]), ["a"])
    listing = _in_library(_listing([("/x/1.jpg", 1, T0, None)]), ["b"])

    with pytest.raises(ConfigError, match="1 listed photos belong to another library already, e.g. /x/1.jpg to 'a'"):
        plan_run(listing, committed)
