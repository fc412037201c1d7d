"""What each scope's results were made from, as a digest: a job that works per scope (clustering, dedup, tag
suggestions) records the digest of every scope it computed, and a later run that asks for changed scopes only
recomputes those whose digest moved (a photo of one of its libraries added, changed or removed, a tag of one
of its faces given or taken back, its libraries or the job's settings changed) and keeps the others' rows.

A library's digest is one hash over its rows sorted by uri, so it is the same however the rows lie in the
files, and computing it costs one sort of the columns it covers and one hash per library."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from pipeline import schema as S
from pipeline.io.circles import Scope

SCOPE_INPUTS = "scope_inputs"  # the key, in a per-scope job's commit details, of each scope's input digest


def library_digests(rows: pa.Table, columns: list[str]) -> dict[str, str]:
    """Per library of ``rows`` (which carry S.LIBRARY and S.URI or S.FACE_ID first in ``columns``), a digest of
    their ``columns``: it changes when a row of the library is added, removed or changed in one of them."""
    if not rows.num_rows:
        return {}
    order = pc.sort_indices(rows, [(S.LIBRARY, "ascending"), (columns[0], "ascending")])
    rows = rows.take(order)
    text = pc.binary_join_element_wise(
        *(pc.fill_null(pc.cast(rows[column], pa.string()), "\x01") for column in columns), "\x00"
    ).to_pylist()
    libraries = rows[S.LIBRARY].to_pylist()
    starts = [0, *(k for k in range(1, len(libraries)) if libraries[k] != libraries[k - 1]), len(libraries)]
    return {
        libraries[a]: f"{b - a}:{hashlib.blake2b(chr(10).join(text[a:b]).encode(), digest_size=12).hexdigest()}"
        for a, b in zip(starts, starts[1:])
    }


def scope_digest(scope: Scope, settings: dict, *by_library: dict[str, str]) -> str:
    """The digest of a scope's inputs: its libraries, each one's digests in ``by_library`` (none for a library
    without rows) and the job's ``settings``."""
    document = [scope.name, list(scope.libraries), [[d.get(lib) for d in by_library] for lib in scope.libraries]]
    text = json.dumps([document, settings], sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def tag_digests(tags: pa.Table, faces: pa.Table) -> dict[str, str]:
    """Per library, a digest of the tags and rejections given to its faces (``faces``: FACE_ID, LIBRARY)."""
    if not tags.num_rows:
        return {}
    libraries = dict(zip(faces[S.FACE_ID].to_pylist(), faces[S.LIBRARY].to_pylist()))
    owned = pa.array([libraries.get(face) for face in tags[S.FACE_ID].to_pylist()], pa.string())
    tags = tags.append_column(S.LIBRARY, owned).filter(pc.is_valid(owned))
    return library_digests(tags, [S.FACE_ID, S.NAME, S.VERDICT, S.TAGGED_AT])


@dataclass(frozen=True)
class ScopePlan:
    """Which scopes a per-scope job computes: ``now`` (each scope's digest now), ``before`` (the digests its
    last run recorded) and ``todo`` (the scopes to compute: all, or those whose digest moved)."""

    now: dict[str, str]
    before: dict[str, str]
    todo: list[Scope]

    @classmethod
    def of(
        cls, found: list[Scope], settings: dict, before: dict[str, str], changed_only: bool, *by_library
    ) -> ScopePlan:
        """The plan over the scopes ``found``, their libraries' digests ``by_library`` and the job's
        ``settings``; ``changed_only``: only the scopes whose digest is not the one ``before`` holds."""
        now = {scope.name: scope_digest(scope, settings, *by_library) for scope in found}
        todo = [scope for scope in found if not changed_only or before.get(scope.name) != now[scope.name]]
        return cls(now, before, todo)

    def recorded(self, done: set[str]) -> dict[str, str]:
        """The digests to record after computing the scopes ``done``: theirs now, the earlier ones of the
        scopes kept (skipped, or failed: those run again next time) and none of scopes that are gone."""
        kept = {name: digest for name, digest in self.before.items() if name in self.now and name not in done}
        return {**kept, **{name: self.now[name] for name in done}}

    def replaced(self, done: set[str], stored: set[str], first: bool) -> list[str] | None:
        """The scopes whose rows the job's write replaces, given the scopes ``done`` and those the table
        holds rows of (``stored``): None (the whole table) on a ``first`` run or when every scope was done."""
        if first or done >= set(self.now):
            return None
        return sorted(done | (stored - set(self.now)))
