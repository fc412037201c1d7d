"""Work done scope by scope (a circle's libraries together, or one library in no circle) across a store of
many libraries: most scopes are small, so they are packed into tasks of about ``per_task`` faces (one task
per scope would spend more on starting tasks than on the work), and a scope of ``per_task`` faces or more
runs alone, in the driver, with the job's tasks for its own parallel parts. A scope that fails (bad input,
a bug its data triggers) fails alone: its error is kept and the others' results are not lost; a pack whose
worker died (out of memory, a crash) is run again one scope a task, so that only the scope that kills its
worker fails. A configuration mistake (ConfigError), or the run's lease taken over (LeaseLost), is every
scope's: it stops the job."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.errors import ConfigError
from pipeline.io.fence import LeaseLost
from pipeline.runtime.tasks import Tasks

log = logging.getLogger(__name__)


@dataclass
class ScopeRuns:
    """What each scope's work returned, and why each failed scope failed ("ErrorType: message")."""

    results: dict[str, Any] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def add(self, other: ScopeRuns) -> None:
        self.results.update(other.results)
        self.failed.update(other.failed)


def packs(sizes: dict[str, int], per_task: int) -> list[list[str]]:
    """The scopes of ``sizes`` (scope -> faces) grouped into packs of at most ``per_task`` faces: largest
    first, each into the first pack it fits (first-fit decreasing); a scope of ``per_task`` or more alone."""
    found: list[list[str]] = []
    room: list[int] = []
    for scope in sorted(sizes, key=lambda name: (-sizes[name], name)):
        size = sizes[scope]
        fits = next((k for k, left in enumerate(room) if size <= left), None) if size < per_task else None
        if fits is None:
            found.append([scope])
            room.append(per_task - size)
        else:
            found[fits].append(scope)
            room[fits] -= size
    return found


def _run_each(work: Callable[..., Any], inputs: list[tuple[str, tuple]], tasks: Tasks | None) -> ScopeRuns:
    """``work(tasks, *args)`` for each (scope, args) of ``inputs`` in turn, each failure kept to its scope."""
    done = ScopeRuns()
    for scope, args in inputs:
        try:
            done.results[scope] = work(tasks, *args)
        except (ConfigError, LeaseLost):  # a configuration mistake, or the lease lost, is every scope's: the job stops
            raise
        except Exception as exc:  # one scope's failure must not stop the others: kept, reported, retried next run
            log.warning("scope %s failed: %s", scope, exc, exc_info=True)
            done.failed[scope] = f"{type(exc).__name__}: {exc}"
    return done


def _pack_task(threads: int, work: Callable[..., Any], inputs: list[tuple[str, tuple]]) -> ScopeRuns:
    """A task running a pack of small scopes, one after the other, in its worker."""
    return _run_each(work, inputs, None)


def run_scopes(
    work: Callable[..., Any],
    inputs: dict[str, tuple],
    sizes: dict[str, int],
    per_task: int,
    tasks: Tasks | None,
) -> ScopeRuns:
    """``work(scope_tasks, *inputs[scope])`` for every scope of ``inputs``: the small ones packed into
    ``tasks`` (in this process when None: scope_tasks is None for them), the large ones (``sizes``: faces
    per scope, ``per_task`` or more) here, one after the other, with ``tasks`` for their own parallel parts.
    Returns each scope's result or why it failed."""
    groups = packs(sizes, per_task)
    large = [group[0] for group in groups if sizes[group[0]] >= per_task]
    small = [group for group in groups if sizes[group[0]] < per_task]
    done = ScopeRuns()
    if tasks is None:
        for group in small:
            done.add(_run_each(work, [(scope, inputs[scope]) for scope in group], None))
    else:
        submitted = [(group, tasks.submit(_pack_task, work, [(s, inputs[s]) for s in group])) for group in small]
    done.add(_run_each(work, [(scope, inputs[scope]) for scope in large], tasks))
    if tasks is not None:
        for group, handle in submitted:
            done.add(_fetched(work, group, handle, inputs, tasks))
    return done


def _fetched(work: Callable[..., Any], group: list[str], handle: Any, inputs: dict, tasks: Tasks) -> ScopeRuns:
    """The pack's results; when its task died (its worker crashed or ran out of memory), its scopes run
    again one a task, so that only a scope that kills its worker again fails."""
    try:
        return tasks.get(handle)
    except (ConfigError, LeaseLost):
        raise
    except Exception as exc:
        log.warning("a pack of %d scopes died (%s): its scopes run again one a task", len(group), exc)
    done = ScopeRuns()
    alone = [(scope, tasks.submit(_pack_task, work, [(scope, inputs[scope])])) for scope in group]
    for scope, retry in alone:
        try:
            done.add(tasks.get(retry))
        except (ConfigError, LeaseLost):
            raise
        except Exception as exc:
            done.failed[scope] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return done
