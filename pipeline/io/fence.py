"""Fencing: a run that lost the lease of the library it writes (pipeline.io.lease: another run took it over
while this one stalled) commits nothing more there.

Every Delta commit a run makes to a table at the DST it holds carries its lease's generation, as a Delta app
transaction (app id ``facepipe.lease``), and is made from the snapshot it was checked on:
- before it, once its snapshot is loaded, the run reads its lease (still its generation, not let go): a run that
  finds it taken over fails with LeaseLost before writing; one that finds it still its own knows that any newer
  generation took it over after the snapshot, so that that generation's commits are not in it;
- the commit itself fails when any commit since that snapshot carries a transaction of the same app id (delta-rs'
  conflict checker), a commit that lands on S3 only where no commit of its version exists (a PUT with
  ``If-None-Match: *``) and in a folder likewise (an exclusive create): no window between the check and the commit.
A run that takes over a lease whose holder may still be alive first claims every table at DST (claim_tables): one
commit each that changes no row but the table's metadata and records the new generation; any commit made
afterward from an older snapshot fails (its snapshot predates a metadata change), which covers the commits that
cannot carry a transaction (delta-rs leaves it out of OPTIMIZE's and VACUUM's: a stale vacuum's first commit
fails, before it deletes any file).

Two windows stay, each between a read of the lease and one write, where S3 has no condition to tie them:
- files beside the tables (JSON, index files, graphs, pages) are written, or removed, after a read of the lease: a
  run that stalls between that read and the write can still write that one file;
- a table's first commit (its creation) is made after a read of the lease: a run that stalls between that read and
  creating a table that no newer run created meanwhile creates it (one created meanwhile is not written into:
  write_modes; except at the very moment of the create, when delta-rs turns a lost create into a commit on top).
A commit refused leaves the data files it wrote unreferenced, as any failed Delta commit (a vacuum removes them).

Runs find their fence by the table or file they write (``fence_of``): a process holds one per library it holds
(``holding``), carried into the tasks it starts on a cluster (pipeline.runtime.ray_tasks). Writes to a library
this process holds no lease of (tests, benchmarks that write tables themselves) are not fenced."""

from __future__ import annotations

import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from deltalake import CommitProperties, DeltaTable, Transaction
from deltalake.exceptions import TableNotFoundError

from pipeline.config import StorageConfig
from pipeline.io import store
from pipeline.io.lease import read_lease

APP_ID = "facepipe.lease"  # the app id of the Delta transactions that carry a commit's lease generation
_KEPT_KEY_PREFIX = "facepipe."  # the commit metadata a claim carries forward (versions a commit point pins)
_DELTA_LOG = "_delta_log"


class LeaseLost(Exception):
    """The lease by which this run held the library at ``tables`` (``generation``) was taken over: the run
    commits nothing more there. ``holder``: the lease found (None: there is none)."""

    def __init__(self, tables: str, generation: int, holder: dict | None):
        self.tables, self.generation, self.holder = tables, generation, holder
        if holder is None:
            now = "its lease is gone"
        else:
            let_go = f", let go at {holder['released_at']}" if holder.get("released_at") else ""
            now = (
                f"taken over by {holder.get('owner')} (run {holder.get('run_id')}, lease generation "
                f"{holder.get('generation')}) at {holder.get('acquired_at')}{let_go}"
            )
        super().__init__(
            f"{tables} was {now} while this run held it (lease generation {generation}, past its lease's life): "
            "this run stopped and committed nothing more there; run it again"
        )

    def __reduce__(self) -> tuple:
        return LeaseLost, (self.tables, self.generation, self.holder)


@dataclass(frozen=True)
class Fence:
    """The lease generation by which a run holds the library at ``tables``."""

    tables: str
    storage: StorageConfig | None
    generation: int

    def confirm(self) -> None:
        """LeaseLost unless the library's lease is still this generation's and not let go (one read of it)."""
        holder = read_lease(self.tables, self.storage)
        if holder is None or holder.get("generation") != self.generation or holder.get("released_at"):
            raise LeaseLost(self.tables, self.generation, holder)


_HELD: dict[str, Fence] = {}  # canonical location of a library -> the fence this process holds it by
_HELD_LOCK = threading.Lock()


@contextmanager
def holding(*fences: Fence) -> Iterator[None]:
    """Inside the block, this process's commits and writes to the libraries of ``fences`` are fenced by them
    (fenced_commit, and store.write_bytes / remove_file through check_write)."""
    store.check_before_writing(check_write)
    held = {store.canonical_location(fence.tables): fence for fence in fences}
    with _HELD_LOCK:
        before = {location: _HELD.get(location) for location in held}
        _HELD.update(held)
    try:
        yield
    finally:
        with _HELD_LOCK:
            for location, fence in before.items():
                if fence is None:
                    _HELD.pop(location, None)
                else:
                    _HELD[location] = fence


def held() -> tuple[Fence, ...]:
    """The fences this process holds, to hold in the tasks it starts elsewhere."""
    with _HELD_LOCK:
        return tuple(_HELD.values())


def _location(uri: str) -> str:
    """``uri`` as store.canonical_location spells it, also for a DeltaTable's file:// uri."""
    if uri.startswith("file://"):
        uri = urllib.request.url2pathname(urllib.parse.urlparse(uri).path)
    return store.canonical_location(uri)


def fence_of(uri: str) -> Fence | None:
    """The fence of the library holding ``uri`` (a table, a file) when this process holds it; else None."""
    if not _HELD:
        return None
    where = _location(uri)
    with _HELD_LOCK:
        for location, fence in _HELD.items():
            if where == location or where.startswith(location + "/"):
                return fence
    return None


def check_write(uri: str) -> None:
    """LeaseLost when ``uri`` is in a library this process holds by a lease another run has taken over since."""
    fence = fence_of(uri)
    if fence is not None:
        fence.confirm()


def _recorded(table: DeltaTable) -> int:
    """The highest lease generation the table's snapshot records (0: none)."""
    return table.transaction_version(APP_ID) or 0


def open_table(path: str, options: dict[str, str] | None, version: int | None = None) -> DeltaTable | None:
    """The Delta table at ``path`` (at ``version``: its latest when None), or None when there is none."""
    try:
        return DeltaTable(path, version=version, storage_options=options)
    except TableNotFoundError:
        return None


@contextmanager
def _commit_under(
    fence: Fence, target: DeltaTable | str, options: dict | None, metadata: dict | None
) -> Iterator[tuple[DeltaTable | str, CommitProperties]]:
    table = open_table(target, options) if isinstance(target, str) else target
    if table is not None and table is target:
        table.update_incremental()
    # The lease is read once the snapshot is: still this generation's, any newer one took it over after the
    # snapshot, so its commits (its claim first) are not in the snapshot and make this commit fail. (This stands
    # for reading the snapshot's recorded generation, transaction_version, which replays the log: 0.1 s a commit.)
    fence.confirm()  # before the commit writes any data file
    transaction = Transaction(APP_ID, fence.generation, int(time.time() * 1000))
    try:
        yield (target if table is None else table), CommitProperties(metadata, app_transactions=[transaction])
    except Exception as failed:  # a conflict, or a snapshot's files gone: was it a newer generation's commit?
        latest = open_table(target, options) if table is None else table
        if latest is not None:
            latest.update_incremental()
            if _recorded(latest) > fence.generation:
                raise LeaseLost(fence.tables, fence.generation, read_lease(fence.tables, fence.storage)) from failed
        raise


@contextmanager
def fenced_commit(
    target: DeltaTable | str, options: dict | None = None, metadata: dict | None = None
) -> Iterator[tuple[DeltaTable | str, CommitProperties]]:
    """One Delta commit, made inside the block to what it yields with the properties it yields (``metadata``:
    the commit's custom metadata), in the modes ``write_modes`` gives. ``target``: the table as opened (the
    commit is made from its snapshot), or a table's path (``options``: deltalake storage options), yielded
    opened, or as the path when there is no table yet (the commit creates it).

    Under a lease of the library holding the table (``holding``), the table is brought up to date, the
    properties carry the lease's generation, and LeaseLost is raised before anything is written when the lease
    shows it taken over, and instead of the commit's failure when a newer generation committed to the table
    meanwhile. Otherwise the target and plain properties."""
    fence = fence_of(target.table_uri if isinstance(target, DeltaTable) else target)
    if fence is None:
        opened = open_table(target, options) if isinstance(target, str) else target
        yield (target if opened is None else opened), CommitProperties(metadata)
        return
    with _commit_under(fence, target, options, metadata) as made:
        yield made


def write_modes(target: DeltaTable | str, mode: str, schema_mode: str | None = None) -> dict[str, str]:
    """write_deltalake's ``mode`` and ``schema_mode`` for a commit to the ``target`` fenced_commit yielded; where
    it found no table (a path), mode "error": the commit creates the table, and fails where another run
    created it since (LeaseLost, under a lease) instead of writing into that run's table unchecked."""
    if isinstance(target, str):
        return {"mode": "error"}
    return {"mode": mode} if schema_mode is None else {"mode": mode, "schema_mode": schema_mode}


def _tables_at(tables: str, storage: StorageConfig | None) -> list[str]:
    """The paths of the Delta tables at the library ``tables`` (folders holding a Delta log)."""
    fs, root = store.filesystem(tables, storage)
    try:
        entries = fs.ls(root, detail=True, refresh=True) if store.is_s3(tables) else fs.ls(root, detail=True)
    except FileNotFoundError:
        return []
    names = sorted(entry["name"].rstrip("/").rsplit("/", 1)[-1] for entry in entries if entry["type"] == "directory")
    return [store.join(tables, name) for name in names if fs.exists(f"{root.rstrip('/')}/{name}/{_DELTA_LOG}")]


def recorded_generation(tables: str, storage: StorageConfig | None) -> int:
    """The highest lease generation any table of the library at ``tables`` records (0: none)."""
    options = store.delta_storage_options(tables, storage)
    paths = _tables_at(tables, storage)
    return max((_recorded(DeltaTable(path, storage_options=options)) for path in paths), default=0)


def claim_tables(fence: Fence) -> list[str]:
    """Record ``fence``'s generation in every Delta table of its library, for a run that took over a lease whose
    holder may still be alive: one commit each that changes no row (the table's description set again; the
    facepipe keys of its last commit carried forward, so a commit point keeps pinning the versions it pins).
    Any commit a run of an older generation makes afterward to one of them fails. Returns the tables' paths."""
    options = store.delta_storage_options(fence.tables, fence.storage)
    claimed = _tables_at(fence.tables, fence.storage)
    for path in claimed:
        table = DeltaTable(path, storage_options=options)
        kept = {key: value for key, value in table.history(1)[0].items() if key.startswith(_KEPT_KEY_PREFIX)}
        with _commit_under(fence, table, options, kept) as (table, properties):
            table.alter.set_table_description(table.metadata().description or "", commit_properties=properties)
    return claimed
