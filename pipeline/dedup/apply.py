"""Set the duplicates a dedup run found aside (apply), and put them back (undo), never deleting a photo."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass

from pipeline import schema as S
from pipeline.config import Config, StorageConfig, load_config
from pipeline.errors import ConfigError
from pipeline.io import store
from pipeline.io.library_run import python_call, run_job
from pipeline.io.runs import RunRecorder
from pipeline.io.tables import TablesSnapshot
from pipeline.results import JobResult

log = logging.getLogger(__name__)

MANIFEST_KIND = "facepipe.dedup.apply"
MANIFEST_FOLDER = "_facepipe"  # beside the run folders under MOVE_TO (no run id starts with "_")

# why a photo was not moved (apply) or not put back (undo)
KEEPER = "keeper"  # a duplicate in one group but the keeper of another: never moved
EDITED = "edited"  # an edited copy (a crop, a caption, a screenshot, ...): its owner may have made it on purpose
MISSING = "missing"  # no file at its place (nor, for apply, already at its quarantine place)
CHANGED = "changed"  # its bytes differ from the sha256 recorded by the dedup run (or by apply)
ALREADY_MOVED = "already_moved"  # an earlier apply moved it: it sits at its quarantine place, unchanged
TARGET_EXISTS = "target_exists"  # something already sits at its quarantine place: never overwritten
UNREADABLE = "unreadable"  # reading it failed for another reason than absence
FAILED = "failed"  # the move raised; the source is kept
IN_PLACE = "in_place"  # undo: the photo already sits at its original place with its recorded bytes
OCCUPIED = "occupied"  # undo: another file now sits at the original place: never overwritten
VERIFY_FAILED = "verify_failed"  # undo: the bytes put back differ from the recorded sha256

PLANNED, MOVED = "planned", "moved"  # a manifest entry's status (FAILED too)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _normalized(uri: str) -> str:
    return uri.rstrip("/") if store.is_s3(uri) else os.path.abspath(os.path.expanduser(uri))


def _inside(uri: str, folder: str) -> bool:
    """True when ``uri`` is ``folder`` or lies below it, however either is spelled."""
    uri, folder = store.canonical_location(uri), store.canonical_location(folder)
    return uri == folder or uri.startswith(folder.rstrip("/") + "/")


def _full_path(uri: str) -> str:
    """The path of ``uri`` without its scheme and leading slash: where it goes below a run's folder."""
    path = uri.split("://", 1)[1] if "://" in uri else os.path.abspath(uri)
    return path.lstrip("/")


def quarantine_uri(move_to: str, run_id: str, uri: str) -> str:
    """Where apply puts the photo at ``uri``: MOVE_TO/<run_id>/<its full path without the scheme>, so
    that two photos of one name in different folders (or buckets) never meet."""
    return store.join(_normalized(move_to), run_id or "no-run-id", _full_path(uri))


def _library_of(tables: str, storage: StorageConfig) -> str | None:
    """The library (SRC) the last embed run at ``tables`` listed, when its record is there."""
    try:
        record = json.loads(store.read_bytes(store.join(tables, S.METADATA_FOLDER, "latest.json"), storage))
    except FileNotFoundError:
        return None
    return record.get("src")


def _refuse_destination(tables: str, move_to: str, storage: StorageConfig) -> None:
    """Raise ConfigError when ``move_to`` is not a folder or an s3:// prefix, or lies inside the library's
    tables (``tables``: a vacuum deletes the files there that no table names) or inside its photos (the
    SRC the last embed run listed, when known: the next embed run would list the duplicates again).

    A destination that holds the tables or the photos (a parent folder of them) is accepted: apply
    writes only below MOVE_TO/<dedup run id>/ (each photo at its full path) and MOVE_TO/_facepipe/,
    apart from the photos and tables it holds.
    """
    if "://" in move_to and not store.is_s3(move_to):
        raise ConfigError(f"--move-to {move_to} is neither a folder nor an s3:// prefix")
    for what, place in (("tables", tables), ("photos", _library_of(tables, storage))):
        if place and _inside(move_to, place):
            raise ConfigError(
                f"--move-to {move_to} lies inside the library's {what} at {place}: "
                "pick a folder outside the library's photos and tables"
            )


def _skip(skipped: list[dict], uri: str, reason: str, error: str | None = None) -> None:
    level = logging.INFO if reason in (KEEPER, ALREADY_MOVED, IN_PLACE) else logging.WARNING
    log.log(level, "%s skipped: %s%s", uri, reason, f" ({error})" if error else "")
    skipped.append({"uri": uri, "reason": reason, **({"error": error} if error else {})})


def _check_duplicates(
    tables: str, move_to: str, storage: StorageConfig, include_edits: bool, library: str | None
) -> tuple[list[dict], list[dict], str]:
    """The duplicates of the table at ``tables`` that may move (manifest entries, status planned), those
    that may not (uri and reason), and the dedup run id; edited copies move only with ``include_edits``;
    with ``library``, that library's photos only. A keeper of a group in any scope never moves, so that
    every group keeps a copy. Raises ConfigError for a destination that ``_refuse_destination`` refuses,
    and for no library in a store of several."""
    _refuse_destination(tables, move_to, storage)
    rows = TablesSnapshot(tables, storage).read(S.DUPLICATES_TABLE).to_pylist()
    libraries = {row[S.LIBRARY] for row in rows}
    if library is None and len(libraries) > 1:
        raise ConfigError(f"{tables} holds {len(libraries)} libraries: name the one whose copies move (--library)")
    keepers = {row[S.URI] for row in rows if row[S.ROLE] == S.ROLE_KEEP}
    rows = [row for row in rows if library is None or row[S.LIBRARY] == library]
    run_ids = sorted({row[S.RUN_ID] for row in rows if row[S.RUN_ID]})
    skipped: list[dict] = []
    candidates: dict[str, dict] = {}
    for row in sorted((r for r in rows if r[S.ROLE] == S.ROLE_DUPLICATE), key=lambda r: r[S.URI]):
        candidates.setdefault(row[S.URI], row)  # a photo listed in two groups moves once
    for uri in [uri for uri in candidates if uri in keepers]:
        _skip(skipped, uri, KEEPER)
        del candidates[uri]
    for uri in [uri for uri, row in candidates.items() if row[S.KIND] in S.EDIT_KINDS and not include_edits]:
        _skip(skipped, uri, EDITED)
        del candidates[uri]
    uris = list(candidates)
    targets = [quarantine_uri(move_to, candidates[uri][S.RUN_ID], uri) for uri in uris]
    planned: list[dict] = []
    for uri, target, now, there in zip(
        uris, targets, store.file_sha256s(uris, storage), store.file_sha256s(targets, storage), strict=True
    ):
        row = candidates[uri]
        if isinstance(now, FileNotFoundError):
            _skip(skipped, uri, ALREADY_MOVED if there == row[S.SHA256] else MISSING)
        elif isinstance(now, Exception):
            _skip(skipped, uri, UNREADABLE, f"{type(now).__name__}: {now}")
        elif now != row[S.SHA256]:
            _skip(skipped, uri, CHANGED)
        elif not isinstance(there, FileNotFoundError):  # a file, a folder, anything: never overwritten
            _skip(skipped, uri, TARGET_EXISTS)
        else:
            entry = {"uri": uri, "moved_to": target, "sha256": row[S.SHA256], "size": row[S.SIZE]}
            planned.append({**entry, "group_id": row[S.GROUP_ID], "status": PLANNED})
    return planned, skipped, ",".join(run_ids)


@dataclass(frozen=True)
class ApplyResult(JobResult):
    """What ``apply_duplicates`` moved (on a dry run: would move), what it skipped and why, and where its
    manifest is (None on a dry run). ``dedup_run_id``: the dedup run(s) whose duplicates it moved."""

    dry_run: bool
    run_id: str | None  # this apply's run (None on a dry run, which writes nothing)
    dedup_run_id: str
    move_to: str
    manifest: str | None
    moved: int
    bytes_moved: int
    skipped: dict  # reason -> photos
    skipped_photos: list  # [{uri, reason, error?}]


def apply_duplicates(
    tables: str,
    move_to: str,
    config: Config | None = None,
    *,
    dry_run: bool = False,
    include_edits: bool = False,
    library: str | None = None,
    run: RunRecorder | None = None,
) -> ApplyResult:
    """Move every duplicate listed in the duplicates table of the library at ``tables`` (role duplicate,
    never the keeper of any group, its bytes still those the dedup run hashed; an edited copy, a crop or
    a captioned or filtered one, only with ``include_edits``: it may have been made on purpose) to ``move_to`` (a folder
    or s3:// prefix), at MOVE_TO/<dedup run id>/<its path>, never overwriting, and write a manifest
    (MOVE_TO/_facepipe/apply-<run id>.json) that ``undo_apply`` takes. Holds the library's lease and
    records the run (a dry run writes nothing and takes no lease). ``library``: only that library's
    duplicates move (needed in a store of several libraries); a photo that keeps a group in any scope
    (its library, or a circle it is in) never moves.

    Raises ConfigError, before anything moves (the dry run too), when ``move_to`` is neither a folder nor
    an s3:// prefix, or lies inside the library's tables (``tables``) or inside the photos the last
    embed run listed, however it is spelled; the run's row records the refusal (exit code 2).
    """
    config = config or load_config()
    storage = config.resolved_storage()
    if dry_run:
        planned, skipped, dedup_run_id = _check_duplicates(tables, move_to, storage, include_edits, library)
        return _applied(None, dedup_run_id, move_to, None, planned, skipped, dry_run=True)
    call = python_call("apply_duplicates", tables, move_to, include_edits=include_edits, library=library)

    def work(run: RunRecorder) -> ApplyResult:
        planned, skipped, dedup_run_id = _check_duplicates(tables, move_to, storage, include_edits, library)
        manifest = store.join(_normalized(move_to), MANIFEST_FOLDER, f"apply-{run.run_id}.json")
        about = {"run_id": run.run_id, "dedup_run_id": dedup_run_id, "dst": tables}
        moved = _move_all(planned, skipped, manifest, about, storage)
        return _applied(run.run_id, dedup_run_id, move_to, manifest, moved, skipped, dry_run=False)

    return run_job(tables, config, "dedup apply", run, call, work)


def _applied(
    run_id: str | None,
    dedup_run_id: str,
    move_to: str,
    manifest: str | None,
    moved: list[dict],
    skipped: list[dict],
    dry_run: bool,
) -> ApplyResult:
    result = ApplyResult(
        dry_run=dry_run,
        run_id=run_id,
        dedup_run_id=dedup_run_id,
        move_to=move_to,
        manifest=manifest,
        moved=len(moved),
        bytes_moved=sum(entry["size"] or 0 for entry in moved),
        skipped=dict(sorted(Counter(entry["reason"] for entry in skipped).items())),
        skipped_photos=skipped,
    )
    log.info("dedup apply: %s", {k: v for k, v in result.as_dict().items() if k != "skipped_photos"})
    return result


def _move_all(
    planned: list[dict], skipped: list[dict], manifest: str, about: dict, storage: StorageConfig
) -> list[dict]:
    """Move the planned photos, recording them in ``manifest``; the entries moved."""
    # The manifest lists every planned move (status "planned") before the first one starts, and is
    # written again with each entry's outcome when the moves end, even by an exception. A crash that
    # kills the process between the two leaves "planned" entries; that is enough, because undo never
    # trusts a status: it looks where each photo actually is (original place, quarantine place) and
    # checks its bytes. One write before and one after, rather than one per move, keeps a large run
    # from rewriting a growing file (on S3, a whole object) thousands of times.
    document = {"kind": MANIFEST_KIND, **about, "created_at": _now(), "finished_at": None, "photos": planned}
    store.write_text(manifest, json.dumps(document, indent=2), storage)
    try:
        outcomes = store.move_files(((entry["uri"], entry["moved_to"]) for entry in planned), storage)
        for entry, error in zip(planned, outcomes):
            if error is None:
                entry["status"] = MOVED
            else:  # a failed move keeps its source; the other photos still move
                entry.update(status=FAILED, error=f"{type(error).__name__}: {error}")
                _skip(skipped, entry["uri"], FAILED, entry["error"])
    finally:
        document.update(finished_at=_now(), skipped=skipped)
        store.write_text(manifest, json.dumps(document, indent=2), storage)
    return [entry for entry in planned if entry["status"] == MOVED]


@dataclass(frozen=True)
class UndoResult(JobResult):
    """What ``undo_apply`` put back, what it skipped and why."""

    manifest: str
    restored: int
    bytes_restored: int
    skipped: dict  # reason -> photos
    skipped_photos: list  # [{uri, reason, error?}]


def undo_apply(manifest: str, config: Config | None = None) -> UndoResult:
    """Put every photo the apply recorded in ``manifest`` back at its original uri, never overwriting
    a file that now sits there with other bytes, and check its bytes once back; the quarantine folders
    emptied on the way (MOVE_TO/<dedup run id>/...) are removed. Running it again is
    harmless (photos already back are reported in_place). Raises ConfigError when ``manifest`` is not
    an apply manifest, FileNotFoundError when there is none.
    """
    storage = (config or load_config()).resolved_storage()
    document = json.loads(store.read_bytes(manifest, storage))
    if not isinstance(document, dict) or document.get("kind") != MANIFEST_KIND:
        raise ConfigError(f"{manifest} is not a manifest written by `facepipe dedup apply`")
    entries: list[dict] = document["photos"]
    skipped: list[dict] = []
    back: list[dict] = []  # entries whose photo is only at its quarantine place, with its bytes
    here = store.file_sha256s([entry["uri"] for entry in entries], storage)
    there = store.file_sha256s([entry["moved_to"] for entry in entries], storage)
    for entry, at_original, at_quarantine in zip(entries, here, there, strict=True):
        if not isinstance(at_original, Exception):
            _skip(skipped, entry["uri"], IN_PLACE if at_original == entry["sha256"] else OCCUPIED)
        elif not isinstance(at_original, FileNotFoundError):
            _skip(skipped, entry["uri"], UNREADABLE, f"{type(at_original).__name__}: {at_original}")
        elif isinstance(at_quarantine, FileNotFoundError):
            _skip(skipped, entry["uri"], MISSING)
        elif isinstance(at_quarantine, Exception):
            _skip(skipped, entry["uri"], UNREADABLE, f"{type(at_quarantine).__name__}: {at_quarantine}")
        elif at_quarantine != entry["sha256"]:
            _skip(skipped, entry["uri"], CHANGED)
        else:
            back.append(entry)
    moved: list[dict] = []
    for entry, error in zip(back, store.move_files(((e["moved_to"], e["uri"]) for e in back), storage)):
        if error is None:
            moved.append(entry)
        else:
            _skip(skipped, entry["uri"], FAILED, f"{type(error).__name__}: {error}")
    for entry in moved:  # the folders apply made for them, now empty (a folder that holds anything stays)
        store.remove_empty_folders(entry["moved_to"], entry["moved_to"].removesuffix("/" + _full_path(entry["uri"])))
    restored: list[dict] = []
    for entry, now in zip(moved, store.file_sha256s([e["uri"] for e in moved], storage), strict=True):
        if now == entry["sha256"]:
            restored.append(entry)
        else:
            _skip(skipped, entry["uri"], VERIFY_FAILED)
    result = UndoResult(
        manifest=manifest,
        restored=len(restored),
        bytes_restored=sum(entry["size"] or 0 for entry in restored),
        skipped=dict(sorted(Counter(item["reason"] for item in skipped).items())),
        skipped_photos=skipped,
    )
    log.info("dedup undo: %s", {k: v for k, v in result.as_dict().items() if k != "skipped_photos"})
    return result
