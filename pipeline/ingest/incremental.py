"""Incremental runs: which photos of SRC are new, changed, retried, unchanged or removed, against the
committed images rows."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from pipeline import schema as S
from pipeline.errors import ConfigError

RETRIED_REASONS = (S.READ_FAILED,)  # transient errors a rerun tries again


@dataclass(frozen=True)
class Plan:
    """What one run must do. ``todo`` holds listing rows (uri, size, mtime, etag) to process."""

    todo: pa.Table
    new: list[str]
    changed: list[str]
    retried: list[str]
    unchanged: int
    removed: list[str]
    unfingerprinted: list[str]  # unchanged photos committed without the dedup fingerprints (an earlier version's run)

    @property
    def replaced(self) -> list[str]:
        """Uris whose existing rows the run replaces."""
        return self.changed + self.retried


def _fingerprint(row: dict) -> tuple:
    mtime = row[S.MTIME]
    return row[S.SIZE], mtime.timestamp() if mtime is not None else None, row[S.ETAG]


def plan_run(
    listing: pa.Table,
    committed: pa.Table,
    fingerprints: bool = True,
    keypoints: bool = True,
    libraries: Collection[str] | None = None,
    faces_off: Collection[str] = (),
) -> Plan:
    """The plan for ``listing`` (LISTING_SCHEMA) against ``committed`` images rows (IMAGES_SCHEMA).

    Each listed photo belongs to the library its row names (S.DEFAULT_LIBRARY when null). ``libraries``:
    the libraries the listing lists in full (default: those it names, or the default library when it is
    empty); their committed photos it does not list are removed, and no other library's photo is.
    A photo is changed when its size, mtime or etag differ from the committed row. With ``fingerprints``,
    unchanged decodable photos committed without the dedup fingerprints (or, with ``keypoints``, without
    their keypoints) are listed as unfingerprinted.

    A photo whose faces are not as its library's setting says (``faces_off``: the libraries opted out of faces) is
    retried: computed again as the setting says.

    Raises ConfigError when a listed photo is committed in another library (a photo belongs to one).
    """
    listing = _with_library(listing)
    committed = _with_library(committed)
    if libraries is None:
        libraries = set(listing[S.LIBRARY].unique().to_pylist()) or {S.DEFAULT_LIBRARY}
    columns = [S.URI, S.LIBRARY, S.SIZE, S.MTIME, S.ETAG, S.ERROR, S.STATUS, S.SHA256, S.KEYPOINTS]
    known = {row[S.URI]: row for row in committed.select(columns).to_pylist()}
    listed = listing.to_pylist()
    _refuse_other_libraries(listed, known)
    new, changed, retried, unfingerprinted, todo_rows = [], [], [], [], []
    for row in listed:
        old = known.get(row[S.URI])
        if old is None:
            new.append(row[S.URI])
        elif _fingerprint(old) != _fingerprint(row):
            changed.append(row[S.URI])
        elif _retried(old, row[S.LIBRARY] in faces_off):
            retried.append(row[S.URI])
        else:
            missing = old[S.SHA256] is None or (keypoints and old[S.KEYPOINTS] is None)  # an earlier version's
            if fingerprints and old[S.STATUS] != S.STATUS_ERROR and missing:
                unfingerprinted.append(row[S.URI])
            continue
        todo_rows.append(row)
    present = {row[S.URI] for row in listed}
    removed = sorted(uri for uri, row in known.items() if row[S.LIBRARY] in libraries and uri not in present)
    todo = pa.Table.from_pylist(todo_rows, schema=S.LISTING_SCHEMA)
    unchanged = len(listed) - len(todo_rows)
    return Plan(todo, new, changed, retried, unchanged, removed, unfingerprinted)


def _retried(old: dict, faces_off: bool) -> bool:
    """Whether a committed photo is computed again: its error was transient, or its faces are not as its library's
    setting (``faces_off``) says."""
    if old[S.ERROR] and old[S.ERROR].split(":", 1)[0] in RETRIED_REASONS:
        return True
    return old[S.STATUS] != S.STATUS_ERROR and (old[S.STATUS] == S.STATUS_FACES_OFF) != faces_off


def _with_library(rows: pa.Table) -> pa.Table:
    """``rows`` with every null (or absent) library read as the default library."""
    if S.LIBRARY not in rows.column_names:
        return rows.append_column(S.LIBRARY, pa.array([S.DEFAULT_LIBRARY] * rows.num_rows, pa.string()))
    return rows.set_column(
        rows.column_names.index(S.LIBRARY), S.LIBRARY, pc.fill_null(rows[S.LIBRARY], S.DEFAULT_LIBRARY)
    )


def _refuse_other_libraries(listed: list[dict], known: dict[str, dict]) -> None:
    moved = [row for row in listed if row[S.URI] in known and known[row[S.URI]][S.LIBRARY] != row[S.LIBRARY]]
    if moved:
        first = moved[0]
        raise ConfigError(
            f"{len(moved)} listed photos belong to another library already, e.g. {first[S.URI]} to "
            f"{known[first[S.URI]][S.LIBRARY]!r}, listed for {first[S.LIBRARY]!r}: a photo belongs to one library "
            "(to move it, leave it out of the other library's SRC and run that library's embed first)"
        )
