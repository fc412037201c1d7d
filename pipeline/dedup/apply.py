"""Set the duplicates a dedup run found aside (apply), and put them back (undo), never deleting a photo."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import uuid
from collections import Counter

from pipeline import schema as S
from pipeline.config import Config, StorageConfig
from pipeline.errors import ConfigError
from pipeline.io import store
from pipeline.io.tables import read_table

log = logging.getLogger(__name__)

MANIFEST_KIND = "facepipe.dedup.apply"
MANIFEST_FOLDER = "_facepipe"  # beside the run folders under MOVE_TO (no run id starts with "_")

# why a photo was not moved (apply) or not put back (undo)
KEEPER = "keeper"  # a duplicate in one group but the keeper of another: never moved
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
    uri, folder = _normalized(uri), _normalized(folder)
    return uri == folder or uri.startswith(folder + "/")


def quarantine_uri(move_to: str, run_id: str, uri: str) -> str:
    """Where apply puts the photo at ``uri``: MOVE_TO/<run_id>/<its full path without the scheme>, so
    that two photos of one name in different folders (or buckets) never meet."""
    path = uri.split("://", 1)[1] if "://" in uri else os.path.abspath(uri)
    return store.join(_normalized(move_to), run_id or "no-run-id", path.lstrip("/"))


def _library_of(dst: str, storage: StorageConfig) -> str | None:
    """The library (SRC) the last embed run at ``dst`` listed, when its record is there."""
    try:
        record = json.loads(store.read_bytes(store.join(dst, S.METADATA_FOLDER, "latest.json"), storage))
    except FileNotFoundError:
        return None
    return record.get("src")


def _skip(skipped: list[dict], uri: str, reason: str, error: str | None = None) -> None:
    level = logging.INFO if reason in (KEEPER, ALREADY_MOVED, IN_PLACE) else logging.WARNING
    log.log(level, "%s skipped: %s%s", uri, reason, f" ({error})" if error else "")
    skipped.append({"uri": uri, "reason": reason, **({"error": error} if error else {})})


def _check_duplicates(dst: str, move_to: str, storage: StorageConfig) -> tuple[list[dict], list[dict], str]:
    """The duplicates of the table at ``dst`` that may move (manifest entries, status planned), those
    that may not (uri and reason), and the dedup run id."""
    rows = read_table(dst, S.DUPLICATES_TABLE, storage).to_pylist()
    keepers = {row[S.URI] for row in rows if row[S.ROLE] == S.ROLE_KEEP}
    run_ids = sorted({row[S.RUN_ID] for row in rows if row[S.RUN_ID]})
    skipped: list[dict] = []
    candidates: dict[str, dict] = {}
    for row in sorted((r for r in rows if r[S.ROLE] == S.ROLE_DUPLICATE), key=lambda r: r[S.URI]):
        candidates.setdefault(row[S.URI], row)  # a photo listed in two groups moves once
    for uri in [uri for uri in candidates if uri in keepers]:
        _skip(skipped, uri, KEEPER)
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


def apply_duplicates(dst: str, move_to: str, config: Config, dry_run: bool = False) -> dict:
    """Move every duplicate listed in the duplicates table at ``dst`` (role duplicate, never the keeper
    of any group, its bytes still those the dedup run hashed) to ``move_to`` (a folder or s3:// prefix),
    at MOVE_TO/<run_id>/<its path>, never overwriting, and write a manifest that ``undo_apply`` takes.

    Returns a JSON-able summary: dry_run, run_id, move_to, moved (photos; on a dry run those that would
    move), bytes_moved, skipped ({reason: count}), skipped_photos ([{uri, reason, error?}]) and
    manifest (its uri; None on a dry run). Raises ConfigError when ``move_to`` lies inside the library
    the last embed run listed (the next embed run would list the duplicates again).
    """
    storage = config.resolved_storage()
    library = _library_of(dst, storage)
    if library and _inside(move_to, library):
        raise ConfigError(f"--move-to {move_to} lies inside the library {library}: pick a folder outside it")
    planned, skipped, run_id = _check_duplicates(dst, move_to, storage)
    summary = {"dry_run": dry_run, "run_id": run_id, "move_to": move_to, "manifest": None}
    if dry_run:
        moved = planned
    else:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]
        summary["manifest"] = store.join(_normalized(move_to), MANIFEST_FOLDER, f"apply-{stamp}.json")
        moved = _move_all(planned, skipped, summary["manifest"], {"run_id": run_id, "dst": dst}, storage)
    reasons = Counter(entry["reason"] for entry in skipped)
    summary.update(
        moved=len(moved),
        bytes_moved=sum(entry["size"] or 0 for entry in moved),
        skipped=dict(sorted(reasons.items())),
        skipped_photos=skipped,
    )
    log.info("dedup apply: %s", {k: v for k, v in summary.items() if k != "skipped_photos"})
    return summary


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


def undo_apply(manifest: str, config: Config) -> dict:
    """Put every photo the apply recorded in ``manifest`` back at its original uri, never overwriting
    a file that now sits there with other bytes, and check its bytes once back. Running it again is
    harmless (photos already back are reported in_place).

    Returns a JSON-able summary: manifest, restored (photos), bytes_restored, skipped ({reason:
    count}), skipped_photos ([{uri, reason, error?}]). Raises ConfigError when ``manifest`` is not an
    apply manifest, FileNotFoundError when there is none.
    """
    storage = config.resolved_storage()
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
    restored: list[dict] = []
    for entry, now in zip(moved, store.file_sha256s([e["uri"] for e in moved], storage), strict=True):
        if now == entry["sha256"]:
            restored.append(entry)
        else:
            _skip(skipped, entry["uri"], VERIFY_FAILED)
    reasons = Counter(item["reason"] for item in skipped)
    summary = {
        "manifest": manifest,
        "restored": len(restored),
        "bytes_restored": sum(entry["size"] or 0 for entry in restored),
        "skipped": dict(sorted(reasons.items())),
        "skipped_photos": skipped,
    }
    log.info("dedup undo: %s", {k: v for k, v in summary.items() if k != "skipped_photos"})
    return summary
