"""The settings a library's owner makes for it (the libraries table at DST): today, whether faces are computed
for its photos at all."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import write_deltalake

from pipeline import schema as S
from pipeline.config import StorageConfig
from pipeline.io import store
from pipeline.io.fence import fenced_commit, write_modes
from pipeline.io.tables import TablesSnapshot


def faces_off(snapshot: TablesSnapshot) -> set[str]:
    """The libraries of the snapshot's store whose owners opted out of faces."""
    if snapshot.version(S.LIBRARIES_TABLE) is None:
        return set()
    rows = snapshot.read(S.LIBRARIES_TABLE, [S.LIBRARY, S.FACES_ON])
    return set(rows.filter(pc.invert(rows[S.FACES_ON]))[S.LIBRARY].to_pylist())


def set_faces(tables: str, storage: StorageConfig, library: str, on: bool, run_id: str) -> bool:
    """Record whether ``library`` has faces computed, in one transaction; whether that changed the setting."""
    snapshot = TablesSnapshot(tables, storage)
    if (library not in faces_off(snapshot)) == on:
        return False
    rows = [] if snapshot.version(S.LIBRARIES_TABLE) is None else snapshot.read(S.LIBRARIES_TABLE).to_pylist()
    now = dt.datetime.now(dt.timezone.utc)
    kept = [row for row in rows if row[S.LIBRARY] != library]
    mine = {S.LIBRARY: library, S.FACES_ON: on, S.UPDATED_AT: now, S.RUN_ID: run_id}
    options = store.delta_storage_options(tables, storage)
    with fenced_commit(store.join(tables, S.LIBRARIES_TABLE), options) as (target, properties):
        write_deltalake(
            target,
            pa.Table.from_pylist([*kept, mine], schema=S.LIBRARIES_SCHEMA),
            **write_modes(target, "overwrite"),
            storage_options=options,
            commit_properties=properties,
        )
    return True
