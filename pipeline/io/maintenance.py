"""Upkeep of the tables at DST, for the nightly run to call while it holds DST's lease: merge the small files
the night's commits left in the images and faces tables (sorted by library, so one library's read stays narrow),
then expire each table's history past the window kept (its unused data files and old log entries) and checkpoint
its log, so that deleted rows leave time travel and opening a table reads one checkpoint and a few commits."""

from __future__ import annotations

import logging
import time

from pipeline import schema as S
from pipeline.config import StorageConfig
from pipeline.io.history import expire_history
from pipeline.io.tables import FaceTables, TablesSnapshot

log = logging.getLogger(__name__)


def maintain_tables(tables: str, storage: StorageConfig | None = None, history_hours: float = 7 * 24) -> dict:
    """Compact the images and faces tables at ``tables`` (faces first, then images re-pinned to them:
    FaceTables.compact), then expire every table's history older than ``history_hours`` and checkpoint its log
    (history.expire_history). Returns the figures: each compacted table's files before and after and the buckets
    rewritten, the tables checkpointed, the data and log files deleted, and the seconds taken."""
    started = time.monotonic()
    snapshot = TablesSnapshot(tables, storage)
    compacted = {}
    if snapshot.version(S.IMAGES_TABLE) is not None:
        compacted = FaceTables.existing(tables, storage).compact()
    expired = expire_history(tables, storage, history_hours)
    figures = {
        "compacted": compacted,
        "checkpointed": sorted(expired),
        "data_files_deleted": sum(table["data_files"] for table in expired.values()),
        "log_files_deleted": sum(table["log_files"] for table in expired.values()),
        "seconds": round(time.monotonic() - started, 3),
    }
    log.info("maintained %s: %s", tables, figures)
    return figures
