"""Upkeep of the tables at DST, for the nightly run to call while it holds DST's lease: merge the small files
the night's commits left in the images and faces tables (sorted by library, so one library's read stays narrow),
then checkpoint every table's log and delete its log files past the table's log retention, so that opening a
table reads one checkpoint and a few commits, not a log that grows with every night."""

from __future__ import annotations

import logging
import time

from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from pipeline import schema as S
from pipeline.config import StorageConfig
from pipeline.io import store
from pipeline.io.fence import check_write
from pipeline.io.tables import TABLES, FaceTables, TablesSnapshot, faces_models

log = logging.getLogger(__name__)


def maintain_tables(tables: str, storage: StorageConfig | None = None) -> dict:
    """Compact the images and faces tables at ``tables`` (faces first, then images re-pinned to them:
    FaceTables.compact), then checkpoint and clean up the log of every table there. Returns the figures:
    each compacted table's files before and after and the buckets rewritten, the tables checkpointed,
    and the seconds taken."""
    started = time.monotonic()
    snapshot = TablesSnapshot(tables, storage)
    compacted = {}
    if snapshot.version(S.IMAGES_TABLE) is not None:
        models = faces_models(snapshot.table(S.FACES_TABLE))
        writer = FaceTables(
            tables, store.resolve_storage(storage), models["embedding_dim"], models["model"], models["detector"]
        )
        compacted = writer.compact()
    checkpointed, options = [], store.delta_storage_options(tables, storage)
    for name in TABLES:
        path = store.join(tables, name)
        try:
            table = DeltaTable(path, storage_options=options)
        except TableNotFoundError:
            continue
        check_write(path)  # no commit, but files written and removed: not by a run that lost the lease
        table.create_checkpoint()
        table.cleanup_metadata()
        checkpointed.append(name)
    figures = {"compacted": compacted, "checkpointed": checkpointed, "seconds": round(time.monotonic() - started, 3)}
    log.info("maintained %s: %s", tables, figures)
    return figures
