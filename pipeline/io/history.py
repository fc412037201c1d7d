"""How long the tables at DST remember: every data file a table no longer uses and every log entry older than a
window is deleted, so that deleted rows (a photo gone, a forgotten library) also leave Delta's time travel. The
nightly keeps output.history_days; `facepipe forget` keeps nothing (its rows leave at once).

A vacuum is itself a commit, and facepipe reads what a table's last commit records (the version of a companion
table it pins, a job's details): each vacuum commit carries its table's last facepipe keys over, a pinned table
(faces, clusters, similar) is vacuumed before the table that pins it, and the pin then names its new version."""

from __future__ import annotations

import datetime as dt
import logging
import re

from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from pipeline.config import StorageConfig
from pipeline.io import store
from pipeline.io.fence import check_write, fenced_commit
from pipeline.io.tables import TABLES

log = logging.getLogger(__name__)

_FACEPIPE_KEY = "facepipe."  # the prefix of the commit metadata facepipe reads back
_LOG_FILE = re.compile(r"^(\d{20})\.(json|crc|checkpoint\.parquet|checkpoint\.\d+\.\d+\.parquet)$")


def _in_pin_order() -> list[str]:
    """The tables, each pinned table before the table that pins it."""
    pinned = [name for name, spec in TABLES.items() if spec.pinned_by]
    return pinned + [name for name in TABLES if name not in pinned]


def _carried(table: DeltaTable) -> dict[str, str]:
    """The facepipe keys of the table's last commit."""
    last = table.history(1)[0]
    return {key: str(value) for key, value in last.items() if key.startswith(_FACEPIPE_KEY)}


def _checkpointed_before(table: DeltaTable, log_files: dict[int, list[str]], cutoff_ms: float) -> int | None:
    """The newest version older than ``cutoff_ms`` (commit time, ms since the epoch) that has a checkpoint: log
    entries before it are not needed to read any version from it on."""
    checkpoints = sorted(
        (version for version, names in log_files.items() if any("checkpoint" in name for name in names)), reverse=True
    )
    times = {entry["version"]: entry["timestamp"] for entry in table.history()}
    return next((version for version in checkpoints if times.get(version, float("inf")) <= cutoff_ms), None)


def expire_history(tables: str, storage: StorageConfig | None, keep_hours: float) -> dict:
    """Forget what the tables at ``tables`` held more than ``keep_hours`` ago (0: everything but their current
    rows): vacuum every table (the data files no version within the window uses, and files no version ever
    used), checkpoint it, and delete its log entries before the newest checkpoint older than the window.
    Returns, per table, the data files and log files deleted."""
    options = store.delta_storage_options(tables, storage)
    new_versions: dict[str, int] = {}
    figures = {}
    cutoff_ms = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=keep_hours)).timestamp() * 1000
    for name in _in_pin_order():
        try:
            table = DeltaTable(store.join(tables, name), storage_options=options)
        except TableNotFoundError:
            continue
        carried = _carried(table)
        for pinned, spec in TABLES.items():
            if spec.pinned_by == name and pinned in new_versions and spec.pin_key in carried:
                carried[spec.pin_key] = str(new_versions[pinned])
        with fenced_commit(table, options, carried) as (table, properties):  # from a refreshed, checked snapshot
            vacuumed = table.vacuum(
                retention_hours=int(keep_hours),
                dry_run=False,
                enforce_retention_duration=False,
                full=True,
                commit_properties=properties,
            )
        table.update_incremental()
        check_write(table.table_uri)  # a checkpoint and log files deleted: not by a run that lost the lease
        table.create_checkpoint()
        new_versions[name] = table.version()
        fs, log_path = store.filesystem(store.join(tables, name, "_delta_log"), storage)
        log_files = _log_files(fs, log_path)
        keep_from = table.version() if keep_hours <= 0 else _checkpointed_before(table, log_files, cutoff_ms)
        old = [entries for version, entries in log_files.items() if keep_from is not None and version < keep_from]
        for entry in (entry for entries in old for entry in entries):
            fs.rm_file(entry)
        figures[name] = {"data_files": len(vacuumed), "log_files": sum(len(entries) for entries in old)}
    log.info("expired the history of %s older than %s h: %s", tables, keep_hours, figures)
    return figures


def _log_files(fs, path: str) -> dict[int, list[str]]:
    """The table's log entries (commits, their checksums, checkpoints) by version."""
    found: dict[int, list[str]] = {}
    for entry in fs.ls(path, detail=False):
        match = _LOG_FILE.match(entry.rstrip("/").rsplit("/", 1)[-1])
        if match:
            found.setdefault(int(match.group(1)), []).append(entry)
    return found
