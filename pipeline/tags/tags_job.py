"""The tag jobs (``pipeline.add_tags``, ``remove_tags``, ``rename_tags``; `facepipe tags add | remove |
rename`): people's names for faces written to a library's tags table, each change one run that holds the
library and is recorded in its runs table."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline import schema as S
from pipeline.config import Config, load_config
from pipeline.errors import ConfigError
from pipeline.io.library_run import current_user, python_call, run_job
from pipeline.io.runs import RunRecorder
from pipeline.io.tables import TablesSnapshot
from pipeline.io.tags_table import delete_tags, rename_person
from pipeline.results import JobResult
from pipeline.tags.tag_file import add_tag_file


@dataclass(frozen=True)
class TagsAdded(JobResult):
    """What a tag file did: rows read, added, replaced ([{line, face_id, name, verdict, replaced}]),
    unchanged, repeated, and refused ([{line, reason, detail}]: not written, the others were); the tags
    table's version after (None when nothing changed). ``exit_code`` 1 when rows were refused."""

    run_id: str
    tables: str
    source: str
    rows: int
    added: int
    replaced: list
    unchanged: int
    repeated: int
    refused: list
    refused_by_reason: dict
    version: int | None

    @property
    def exit_code(self) -> int:
        return 1 if self.refused else 0


@dataclass(frozen=True)
class TagsRemoved(JobResult):
    """Rows removed (names and rejections), by verdict, of how many faces; face ids given that had no
    rows; the tags table's version after."""

    run_id: str
    tables: str
    removed: int
    by_verdict: dict
    faces: int
    not_tagged: list
    version: int | None


@dataclass(frozen=True)
class TagsRenamed(JobResult):
    """A name renamed: rows and faces renamed, whether the new name existed (the two people merged) and
    how many rows met a row of it; the tags table's version after (None when the names are equal)."""

    run_id: str
    tables: str
    old: str
    new: str
    renamed: int
    faces: int
    merged: bool
    collapsed: int
    version: int | None

    def as_dict(self) -> dict:
        data = super().as_dict()
        return {**data, "from": data.pop("old"), "to": data.pop("new")}


def add_tags(
    tables: str,
    tags_file: str,
    config: Config | None = None,
    *,
    tagged_by: str | None = None,
    library: str | None = None,
    run: RunRecorder | None = None,
) -> TagsAdded:
    """Tag faces of the library at ``tables`` from ``tags_file`` (CSV or Parquet: name, and face_id, or
    uri with a box, or uri alone; optional verdict tag / accepted / rejected), in one transaction.
    TagFileError (a ConfigError; nothing written) for a file with hard errors; rows that cannot be
    resolved are refused and reported, the others written. ``tagged_by`` defaults to the current user.
    ``library``: the tags are made in that library; rows naming a face of another are refused (a tag is its
    face's library's)."""
    config = config or load_config()
    storage, who = config.resolved_storage(), tagged_by or current_user()

    def work(run: RunRecorder) -> TagsAdded:
        added = add_tag_file(tables, tags_file, storage, tagged_by=who, library=library)
        return TagsAdded(run_id=run.run_id, **added)

    call = python_call("add_tags", tables, tags_file, library=library)
    return run_job(tables, config, "tags add", run, call, work)


def _faces_of(tables: str, storage, library: str | None) -> set[str] | None:
    """The face ids of ``library`` in the store at ``tables``; None (every face) for no library, in a store of
    one library. ConfigError for no library in a store of several: a name there is each owner's own."""
    snapshot = TablesSnapshot(tables, storage)
    if library is None:
        found = snapshot.libraries()
        if len(found) > 1:
            raise ConfigError(f"{tables} holds {len(found)} libraries: name the one whose tags change (--library)")
        return None
    return set(snapshot.read(S.FACES_TABLE, [S.FACE_ID], libraries=[library])[S.FACE_ID].to_pylist())


def remove_tags(
    tables: str,
    config: Config | None = None,
    *,
    face_ids: list[str] | None = None,
    name: str | None = None,
    library: str | None = None,
    run: RunRecorder | None = None,
) -> TagsRemoved:
    """Remove every tag and rejection of the faces ``face_ids``, or of the name ``name`` (one of the two),
    from the library at ``tables``, in one transaction; ``library``: of that library's faces only (needed
    in a store of several libraries). ConfigError when there is no tags table or no row of ``name``."""
    config = config or load_config()
    call = python_call("remove_tags", tables, face_ids=face_ids, name=name, library=library)
    storage = config.resolved_storage()

    def work(run: RunRecorder) -> TagsRemoved:
        within = _faces_of(tables, storage, library)
        removed = delete_tags(tables, storage, face_ids=face_ids, name=name, within=within)
        return TagsRemoved(run_id=run.run_id, **removed)

    return run_job(tables, config, "tags remove", run, call, work)


def rename_tags(
    tables: str,
    old: str,
    new: str,
    config: Config | None = None,
    *,
    library: str | None = None,
    run: RunRecorder | None = None,
) -> TagsRenamed:
    """Rename the person ``old`` to ``new`` in every tag and rejection of the library at ``tables`` (``new``
    may exist: the two become one person), in one transaction; ``library``: of that library's faces only
    (needed in a store of several libraries). ConfigError when ``old`` has no rows."""
    config = config or load_config()
    storage = config.resolved_storage()

    def work(run: RunRecorder) -> TagsRenamed:
        summary = rename_person(tables, old, new, storage, _faces_of(tables, storage, library))
        return TagsRenamed(run_id=run.run_id, old=summary.pop("from"), new=summary.pop("to"), **summary)

    call = python_call("rename_tags", tables, old, new, library=library)
    return run_job(tables, config, "tags rename", run, call, work)
