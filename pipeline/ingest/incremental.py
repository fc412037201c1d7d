"""Incremental runs: which photos of SRC are new, changed, retried, unchanged or removed, against the
committed images rows."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from pipeline import schema as S

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


def plan_run(listing: pa.Table, committed: pa.Table, fingerprints: bool = True, keypoints: bool = True) -> Plan:
    """The plan for ``listing`` (LISTING_SCHEMA) against ``committed`` images rows (IMAGES_SCHEMA).

    A photo is changed when its size, mtime or etag differ from the committed row. With ``fingerprints``,
    unchanged decodable photos committed without the dedup fingerprints (or, with ``keypoints``, without
    their keypoints) are listed as unfingerprinted.
    """
    columns = [S.URI, S.SIZE, S.MTIME, S.ETAG, S.ERROR, S.STATUS, S.SHA256, S.KEYPOINTS]
    known = {row[S.URI]: row for row in committed.select(columns).to_pylist()}
    listed = listing.to_pylist()
    new, changed, retried, unfingerprinted, todo_rows = [], [], [], [], []
    for row in listed:
        old = known.get(row[S.URI])
        if old is None:
            new.append(row[S.URI])
        elif _fingerprint(old) != _fingerprint(row):
            changed.append(row[S.URI])
        elif old[S.ERROR] and old[S.ERROR].split(":", 1)[0] in RETRIED_REASONS:
            retried.append(row[S.URI])
        else:
            missing = old[S.SHA256] is None or (keypoints and old[S.KEYPOINTS] is None)  # an earlier version's
            if fingerprints and old[S.STATUS] != S.STATUS_ERROR and missing:
                unfingerprinted.append(row[S.URI])
            continue
        todo_rows.append(row)
    present = {row[S.URI] for row in listed}
    removed = sorted(uri for uri in known if uri not in present)
    todo = pa.Table.from_pylist(todo_rows, schema=S.LISTING_SCHEMA)
    unchanged = len(listed) - len(todo_rows)
    return Plan(todo, new, changed, retried, unchanged, removed, unfingerprinted)
