"""Circles (``pipeline.set_circle``, ``remove_from_circle``; `facepipe circles set | remove`): libraries whose
owners share people, names and duplicates. The circles table holds one row per library in a circle; each
change is one run that holds the store and rewrites the table in one Delta transaction.

Scopes follow from them: the people of a circle are found over its libraries together, and those of a
library in no circle over that library alone. A library may be in several circles (then in each circle's
scope, never in its own) or in none. Sharing is not transitive: a circle's scope holds its own libraries
only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyarrow as pa
from deltalake import write_deltalake

from pipeline import schema as S
from pipeline.config import Config, StorageConfig, load_config
from pipeline.errors import ConfigError
from pipeline.io import store
from pipeline.io.fence import fenced_commit, write_modes
from pipeline.io.library_run import python_call, run_job
from pipeline.io.runs import RunRecorder
from pipeline.io.tables import TablesSnapshot
from pipeline.results import JobResult

CIRCLE_SCOPE, LIBRARY_SCOPE = "circle", "library"


@dataclass(frozen=True)
class Scope:
    """Where results are computed together: ``name`` ("circle/C" or "library/L") and its libraries."""

    name: str
    libraries: tuple[str, ...]


@dataclass(frozen=True)
class CirclesChanged(JobResult):
    """A circle after a change: its libraries (none: it is gone), the libraries that left it, and how many
    circles the store has."""

    run_id: str
    circle: str
    libraries: list
    left: list
    circles: int


def read_circles(snapshot: TablesSnapshot) -> dict[str, list[str]]:
    """Each circle of the snapshot's store and its libraries (sorted); {} before any circle was set."""
    if snapshot.version(S.CIRCLES_TABLE) is None:
        return {}
    rows = snapshot.read(S.CIRCLES_TABLE, [S.CIRCLE, S.LIBRARY]).to_pylist()
    circles: dict[str, list[str]] = {}
    for row in sorted(rows, key=lambda row: (row[S.CIRCLE], row[S.LIBRARY])):
        circles.setdefault(row[S.CIRCLE], []).append(row[S.LIBRARY])
    return circles


def scopes(circles: dict[str, list[str]], libraries: Iterable[str]) -> list[Scope]:
    """The scopes of a store whose photos are in ``libraries``: one per circle, one per library of
    ``libraries`` in no circle; sorted by name."""
    shared = {library for members in circles.values() for library in members}
    found = [Scope(f"{CIRCLE_SCOPE}/{circle}", tuple(members)) for circle, members in circles.items()]
    found += [Scope(f"{LIBRARY_SCOPE}/{library}", (library,)) for library in set(libraries) - shared]
    return sorted(found, key=lambda scope: scope.name)


def set_circle(
    tables: str, circle: str, libraries: list[str], config: Config | None = None, *, run: RunRecorder | None = None
) -> CirclesChanged:
    """Make ``circle`` the circle of exactly ``libraries`` (two or more) in the store at ``tables``: libraries
    not named leave it. Results that depend on the circle change at the next run of each job."""
    wanted = sorted({S.checked_id(library) for library in libraries})
    if len(wanted) < 2:
        raise ConfigError(f"a circle shares between libraries: name two or more, not {wanted}")
    call = python_call("set_circle", tables, S.checked_id(circle, "circle"), wanted)
    return _change(tables, circle, lambda members: wanted, config, run, "circles set", call)


def remove_from_circle(
    tables: str,
    circle: str,
    libraries: list[str] | None = None,
    config: Config | None = None,
    *,
    run: RunRecorder | None = None,
) -> CirclesChanged:
    """Take ``libraries`` out of ``circle`` (all of them: the circle is gone); a circle left with one library
    is gone too (it shares with no one). ConfigError for a circle that does not exist."""

    def after(members: list[str]) -> list[str]:
        if not members:
            raise ConfigError(f"{tables} has no circle {circle!r}")
        return [member for member in members if libraries is not None and member not in libraries]

    call = python_call("remove_from_circle", tables, circle, libraries=libraries)
    return _change(tables, circle, after, config, run, "circles remove", call)


def leave_circles(tables: str, library: str, run_id: str, storage: StorageConfig) -> int:
    """Take ``library`` out of every circle it is in, in one transaction (a circle left with one library is gone
    too); how many circles it left. For a run that holds the store's lease (`facepipe forget`)."""
    circles = read_circles(TablesSnapshot(tables, storage))
    left = [circle for circle, members in circles.items() if library in members]
    for circle in left:
        members = [member for member in circles[circle] if member != library]
        circles[circle] = members if len(members) >= 2 else []
    if left:
        _write(tables, circles, run_id, storage)
    return len(left)


def _change(
    tables: str,
    circle: str,
    after: Callable[[list[str]], list[str]],
    config: Config | None,
    run: RunRecorder | None,
    name: str,
    call: str,
) -> CirclesChanged:
    """Run ``name``: the circle's libraries become ``after(its libraries now)`` (fewer than two: none)."""
    config = config or load_config()

    def work(run: RunRecorder) -> CirclesChanged:
        storage = config.resolved_storage()
        circles = read_circles(TablesSnapshot(tables, storage))
        before = circles.get(circle, [])
        members = after(before)
        circles[circle] = members if len(members) >= 2 else []
        _write(tables, circles, run.run_id, storage)
        left = [library for library in before if library not in circles[circle]]
        return CirclesChanged(run.run_id, circle, circles[circle], left, sum(1 for m in circles.values() if m))

    return run_job(tables, config, name, run, call, work)


def _write(tables: str, circles: dict[str, list[str]], run_id: str, storage: StorageConfig) -> None:
    """The whole circles table in one transaction; libraries already in their circle keep their rows."""
    snapshot = TablesSnapshot(tables, storage)
    old = snapshot.read(S.CIRCLES_TABLE).to_pylist() if snapshot.version(S.CIRCLES_TABLE) is not None else []
    kept = {(row[S.CIRCLE], row[S.LIBRARY]): row for row in old}
    now = dt.datetime.now(dt.timezone.utc)
    rows = [
        kept.get((circle, library), {S.CIRCLE: circle, S.LIBRARY: library, S.ADDED_AT: now, S.RUN_ID: run_id})
        for circle, members in sorted(circles.items())
        for library in members
    ]
    options = store.delta_storage_options(tables, storage)
    with fenced_commit(store.join(tables, S.CIRCLES_TABLE), options) as (target, properties):
        write_deltalake(
            target,
            pa.Table.from_pylist(rows, schema=S.CIRCLES_SCHEMA),
            **write_modes(target, "overwrite"),
            storage_options=options,
            commit_properties=properties,
        )
