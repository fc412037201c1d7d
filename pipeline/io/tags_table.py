"""The tags table at DST: the name people gave each face, and the suggested names they rejected.

One row per (face_id, name): a face has at most one name (verdict ``tag`` or ``accepted``) and any
number of rejected names beside it. Every change (add, remove, rename) is one Delta transaction:
it is written whole or not at all.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from pipeline import schema as S
from pipeline.config import StorageConfig
from pipeline.errors import ConfigError
from pipeline.io import store
from pipeline.io.fence import fenced_commit, write_modes

log = logging.getLogger(__name__)

POSITIVE = (S.VERDICT_TAG, S.VERDICT_ACCEPTED)  # verdicts that name the face: one name per face

# What record_tags did with each row it was given.
ADDED = "added"  # a new row
REPLACED = "replaced"  # a new row that replaced the face's earlier name or the opposite verdict on this name
UNCHANGED = "unchanged"  # the table already said so
REPEATED = "repeated"  # the same as an earlier row of the same call

_DELETE = "delete_row"  # merge source column: remove the target row of this (face_id, name)
_INPUT_SCHEMA = pa.schema([S.TAGS_SCHEMA.field(name) for name in (S.FACE_ID, S.NAME, S.VERDICT)])

Key = tuple[str, str]  # (face_id, name)


class _TagsTable:
    """The tags table at DST as opened (None when it does not exist yet), and its one-transaction writes."""

    def __init__(self, tables: str, storage: StorageConfig | None):
        self.tables = tables
        self.path = store.join(tables, S.TAGS_TABLE)
        self.options = store.delta_storage_options(tables, storage)
        try:
            self.table: DeltaTable | None = DeltaTable(self.path, storage_options=self.options)
        except TableNotFoundError:
            self.table = None

    def rows(self) -> pa.Table:
        if self.table is None:
            return S.TAGS_SCHEMA.empty_table()
        return self.table.to_pyarrow_table().select(S.TAGS_SCHEMA.names).cast(S.TAGS_SCHEMA)

    def commit(self, upserts: list[dict], deletes: list[Key]) -> int | None:
        """Write ``upserts`` (each added, or replacing the row of its (face_id, name)) and remove the
        rows of ``deletes`` in one transaction; the table's new version (None when there was nothing to do)."""
        if not upserts and not deletes:
            return None
        rows = pa.Table.from_pylist(upserts, S.TAGS_SCHEMA)
        if self.table is None:  # the first rows create the table in the same commit
            with fenced_commit(self.path, self.options) as (target, properties):
                modes = write_modes(target, "append")
                write_deltalake(target, rows, **modes, storage_options=self.options, commit_properties=properties)
            self.table = DeltaTable(self.path, storage_options=self.options)
            return self.table.version()
        gone = pa.Table.from_pylist([{S.FACE_ID: face_id, S.NAME: name} for face_id, name in deletes], S.TAGS_SCHEMA)
        source = pa.concat_tables([rows, gone]).append_column(
            _DELETE, pa.array([False] * rows.num_rows + [True] * gone.num_rows, pa.bool_())
        )
        columns = {name: f"s.{name}" for name in S.TAGS_SCHEMA.names}
        with fenced_commit(self.table) as (table, properties):
            (
                table.merge(
                    source,
                    predicate=f"t.{S.FACE_ID} = s.{S.FACE_ID} AND t.{S.NAME} = s.{S.NAME}",
                    source_alias="s",
                    target_alias="t",
                    commit_properties=properties,
                )
                .when_matched_delete(predicate=f"s.{_DELETE}")
                .when_matched_update(columns, predicate=f"NOT s.{_DELETE}")
                .when_not_matched_insert(columns, predicate=f"NOT s.{_DELETE}")
                .execute()
            )
        self.table.update_incremental()
        return self.table.version()


def read_tags(tables: str, storage: StorageConfig | None = None) -> pa.Table:
    """Every row of the tags table at ``tables`` (S.TAGS_SCHEMA); an empty table when none was written yet."""
    return _TagsTable(tables, storage).rows()


def tags_in_force(tags: pa.Table) -> dict[str, str]:
    """face id -> name of the faces that ``tags`` (rows of the tags table) names: each face's latest
    row whose verdict is a tag or an accepted suggestion (a rejection names no one)."""
    rows = [r for r in tags.select([S.FACE_ID, S.NAME, S.VERDICT, S.TAGGED_AT]).to_pylist() if r[S.VERDICT] in POSITIVE]
    rows.sort(key=lambda r: (r[S.TAGGED_AT] is not None, r[S.TAGGED_AT]))  # undated first, then oldest to latest
    return {row[S.FACE_ID]: row[S.NAME] for row in rows}


def rejections(tags: pa.Table) -> set[Key]:
    """The (face id, name) pairs that ``tags`` (rows of the tags table) records as rejected suggestions."""
    rows = tags.filter(pc.equal(tags[S.VERDICT], S.VERDICT_REJECTED))
    return set(zip(rows[S.FACE_ID].to_pylist(), rows[S.NAME].to_pylist()))


@dataclass(frozen=True)
class TagChanges:
    """What record_tags did: per row given, its outcome (ADDED, REPLACED, UNCHANGED, REPEATED) and the
    rows it replaced ({name, verdict}); the table's version after the commit (None: nothing written)."""

    outcomes: list[str]
    replaced: list[list[dict]]
    version: int | None


def _check_consistent(rows: list[dict]) -> None:
    """ValueError unless every row has a face_id, a name and a verdict, each face at most one name and
    no name both given and rejected for one face."""
    positive: dict[str, set[str]] = {}
    rejected: set[Key] = set()
    for row in rows:
        if not row[S.FACE_ID] or not (row[S.NAME] or "").strip() or row[S.VERDICT] not in S.VERDICTS:
            raise ValueError(f"a tag needs a face_id, a name and a verdict in {S.VERDICTS}: {row}")
        if row[S.VERDICT] in POSITIVE:
            positive.setdefault(row[S.FACE_ID], set()).add(row[S.NAME])
        else:
            rejected.add((row[S.FACE_ID], row[S.NAME]))
    clashes = sorted(
        face_id for face_id, names in positive.items() if len(names) > 1 or any((face_id, n) in rejected for n in names)
    )
    if clashes:
        raise ValueError(f"rows give these faces two names, or give and reject one name: {clashes}")


def record_tags(
    tables: str,
    tags: pa.Table,
    storage: StorageConfig | None = None,
    source: str | None = None,
    tagged_by: str | None = None,
) -> TagChanges:
    """Record ``tags`` (FACE_ID, NAME, VERDICT) in the tags table at ``tables`` in one transaction.

    A (face_id, name) already there with the same kind of verdict is left as it is; a new name of a
    face replaces its earlier name; a rejection of the face's name removes that name, a tag of a
    rejected name removes the rejection; other rejections stay beside the name. ``tags`` must be
    consistent (ValueError otherwise): per face at most one name, no name both given and rejected.
    """
    rows = tags.select(_INPUT_SCHEMA.names).cast(_INPUT_SCHEMA).to_pylist()
    _check_consistent(rows)
    table = _TagsTable(tables, storage)
    current = table.rows()
    touched = pa.array(sorted({row[S.FACE_ID] for row in rows}), pa.string())
    existing = current.filter(pc.is_in(current[S.FACE_ID], value_set=touched)).to_pylist()
    before: dict[Key, dict] = {(row[S.FACE_ID], row[S.NAME]): row for row in existing}
    state = dict(before)
    now = dt.datetime.now(dt.timezone.utc)
    outcomes: list[str] = []
    replaced: list[list[dict]] = []
    seen: set[tuple[Key, bool]] = set()
    for row in rows:
        key, positive = (row[S.FACE_ID], row[S.NAME]), row[S.VERDICT] in POSITIVE
        same = state.get(key)
        if (key, positive) in seen or (same is not None and (same[S.VERDICT] in POSITIVE) == positive):
            outcomes.append(REPEATED if (key, positive) in seen else UNCHANGED)
            replaced.append([])
            seen.add((key, positive))
            continue
        seen.add((key, positive))
        dropped = [same] if same is not None else []
        if positive:  # the face's earlier name goes
            dropped += [old for k, old in state.items() if k[0] == key[0] and k != key and old[S.VERDICT] in POSITIVE]
        for old in dropped:
            del state[(old[S.FACE_ID], old[S.NAME])]
        state[key] = {**row, S.SOURCE: source, S.TAGGED_BY: tagged_by, S.TAGGED_AT: now}
        outcomes.append(REPLACED if dropped else ADDED)
        replaced.append([{S.NAME: old[S.NAME], S.VERDICT: old[S.VERDICT]} for old in dropped])
    upserts = [row for key, row in state.items() if before.get(key) is not row]
    deletes = [key for key in before if key not in state]
    version = table.commit(upserts, deletes)
    log.info("tags at %s: %d rows written, %d removed (version %s)", tables, len(upserts), len(deletes), version)
    return TagChanges(outcomes, replaced, version)


def delete_tags(
    tables: str,
    storage: StorageConfig | None = None,
    face_ids: list[str] | None = None,
    name: str | None = None,
    within: set[str] | None = None,
) -> dict:
    """Remove every row (names and rejections) of the faces ``face_ids``, or every row of the name
    ``name``, in one transaction; ``within``: the rows of these faces only (one library's). Returns {tables,
    removed, by_verdict, faces, not_tagged (face_ids given that had no rows), version}. ConfigError when
    there is no tags table, or no row of ``name``."""
    if (face_ids is None) == (name is None):
        raise ValueError("delete_tags takes face_ids or a name")
    table = _TagsTable(tables, storage)
    if table.table is None:
        raise ConfigError(f"no tags table at {tables}: nothing to remove")
    current = _within(table.rows(), within)
    if name is not None:
        gone = current.filter(pc.equal(current[S.NAME], name.strip()))
        if not gone.num_rows:
            raise ConfigError(f"no tags named {name!r} at {tables}")
    else:
        gone = current.filter(pc.is_in(current[S.FACE_ID], value_set=pa.array(face_ids, pa.string())))
    rows = gone.to_pylist()
    faces = {row[S.FACE_ID] for row in rows}
    version = table.commit([], [(row[S.FACE_ID], row[S.NAME]) for row in rows])
    log.info("tags at %s: %d rows of %d faces removed", tables, len(rows), len(faces))
    return {
        "tables": tables,
        "removed": len(rows),
        "by_verdict": dict(Counter(row[S.VERDICT] for row in rows)),
        "faces": len(faces),
        "not_tagged": sorted(set(face_ids or []) - faces),
        "version": version,
    }


def remove_tag_rows(tables: str, storage: StorageConfig | None, keys: list[Key]) -> int:
    """Remove the rows of ``keys`` ((face_id, name)) in one transaction, whatever their verdict (none: no commit);
    how many there were. For `facepipe forget`, which finds the rows itself."""
    table = _TagsTable(tables, storage)
    if table.table is None or not keys:
        return 0
    table.commit([], sorted(set(keys)))
    return len(set(keys))


def _precedence(row: dict) -> tuple:
    """Which of two rows of one face and name wins a merge: the later, then a name over a rejection."""
    return (row[S.TAGGED_AT] or dt.datetime.min.replace(tzinfo=dt.timezone.utc), row[S.VERDICT] in POSITIVE)


def _within(rows: pa.Table, faces: set[str] | None) -> pa.Table:
    """``rows`` of the tags table on ``faces`` (all of them for None)."""
    if faces is None:
        return rows
    return rows.filter(pc.is_in(rows[S.FACE_ID], value_set=pa.array(sorted(faces), pa.string())))


def rename_person(
    tables: str, old: str, new: str, storage: StorageConfig | None = None, within: set[str] | None = None
) -> dict:
    """Rename ``old`` to ``new`` in every row (names and rejections; ``within``: of these faces only, one
    library's) in one transaction; ``new`` may already exist (the two become one person: where one face
    has rows of both, the later row stays). Returns {tables, from, to, renamed (rows), faces, merged (new
    existed), collapsed (rows that met a row of ``new``), version}. ConfigError when a name is empty or
    ``old`` has no rows."""
    old, new = old.strip(), new.strip()
    if not old or not new:
        raise ConfigError("tags rename needs two non-empty names (--from, --to)")
    table = _TagsTable(tables, storage)
    current = _within(table.rows(), within)
    moving = current.filter(pc.equal(current[S.NAME], old)).to_pylist()
    if not moving:
        raise ConfigError(f"no tags named {old!r} at {tables}")
    existing = {row[S.FACE_ID]: row for row in current.filter(pc.equal(current[S.NAME], new)).to_pylist()}
    summary = {
        "tables": tables,
        "from": old,
        "to": new,
        "renamed": 0,
        "faces": 0,
        "merged": bool(existing),
        "collapsed": 0,
    }
    if old == new:
        return {**summary, "version": None}
    upserts, collapsed = [], 0
    for row in moving:
        renamed, other = {**row, S.NAME: new}, existing.get(row[S.FACE_ID])
        collapsed += other is not None
        if other is None or _precedence(renamed) > _precedence(other):
            upserts.append(renamed)
    version = table.commit(upserts, [(row[S.FACE_ID], old) for row in moving])
    faces = len({row[S.FACE_ID] for row in moving})
    log.info("tags at %s: %r renamed to %r on %d faces", tables, old, new, faces)
    return {**summary, "renamed": len(moving), "faces": faces, "collapsed": collapsed, "version": version}
