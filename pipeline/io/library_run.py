"""The frame of every job that writes a library (the tables at one location): the job holds the library
alone while it runs (the lease) and leaves one row in the runs table, whatever its outcome. The run's id
is the ``run_id`` of every row the job writes, so that a runs row joins the rows it made."""

from __future__ import annotations

import getpass
import os
import shlex
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from typing import TypeVar

from pipeline.config import Config
from pipeline.errors import ConfigError
from pipeline.io import store
from pipeline.io.fence import Fence, LeaseLost, claim_tables, holding, recorded_generation
from pipeline.io.lease import Lease
from pipeline.io.runs import RunRecorder
from pipeline.results import JobResult

R = TypeVar("R", bound=JobResult)
_COMMAND: ContextVar[str | None] = ContextVar("facepipe_command", default=None)


def current_user() -> str | None:
    """The login name of the user running this process, when the system knows it."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


@contextmanager
def invoked_as(command: list[str] | str) -> Iterator[None]:
    """Runs started inside the block record ``command`` (the command line the CLI was given) as their
    command in the runs table, instead of the Python call that started them."""
    token = _COMMAND.set(command if isinstance(command, str) else shlex.join(command))
    try:
        yield
    finally:
        _COMMAND.reset(token)


def python_call(function: str, *args: object, **kwargs: object) -> str:
    """How a run started from Python is recorded: ``pipeline.cluster('faces-out', incremental=True)``
    (keyword arguments left at their default, None or False, are not shown)."""
    shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items() if v not in (None, False)]
    return f"pipeline.{function}({', '.join(shown)})"


def _exit_code(stop: SystemExit) -> int:
    if stop.code is None or isinstance(stop.code, int):
        return stop.code or 0
    return 1  # a message: Python prints it and exits 1


@contextmanager
def library_run(
    tables: str, command: list[str] | str, config: Config, *, redacted: bool = False
) -> Iterator[RunRecorder]:
    """Hold the library at ``tables`` for the run of ``command`` (the lease: LeaseHeld, exit 3, when
    another run holds it; then nothing is written) and yield its RunRecorder; when the block ends,
    however it ends, append the run's row to the runs table, then let go. Every commit and file the run
    writes there is fenced by its lease (pipeline.io.fence): once another run took the lease over, they
    fail with LeaseLost, and the run leaves no row. The command recorded is the CLI's command line when the
    run was started inside ``invoked_as``, else ``command``. Its exit code: ``run.exit_code`` (0 unless the
    job set it), a SystemExit's code, 2 for a ConfigError, 1 for any other exception. ``redacted``: ``command``
    is recorded even under ``invoked_as`` (a command line that names what it erases must not keep it)."""
    storage = config.resolved_storage()
    store.ensure_writable(tables, storage)
    command = (None if redacted else _COMMAND.get()) or (command if isinstance(command, str) else shlex.join(command))
    run = RunRecorder(tables, storage, command, config)
    owner = f"{current_user()}@{socket.gethostname()}:{os.getpid()}"
    recorded = partial(recorded_generation, tables, storage)
    with Lease(tables, storage, owner, config.output.lease_ttl_s, run.run_id, recorded) as lease:
        fence = Fence(tables, storage, lease.generation)
        with holding(fence):
            if lease.taken_over:  # its last holder may be alive: fence it out of every table first
                claim_tables(fence)
            code, lost = 1, False
            try:
                yield run
                code = run.exit_code
            except SystemExit as stop:
                code = _exit_code(stop)
                raise
            except ConfigError:
                code = 2
                raise
            except LeaseLost:
                lost = True  # its row is a commit too: refused
                raise
            finally:
                if not lost:
                    run.finish(code)


def run_job(
    tables: str, config: Config, name: str, run: RunRecorder | None, command: str, work: Callable[[RunRecorder], R]
) -> R:
    """Step ``name`` of a job on the library at ``tables``: ``work(run)`` done as a step of ``run`` when the
    job is part of a larger run (nightly), else of a run of its own (``library_run`` of ``command``). The
    result's figures are the step's counts in the runs row, and its exit code raises the run's."""
    if run is None:
        with library_run(tables, command, config) as own:
            return run_job(tables, config, name, own, command, work)
    with run.step(name) as counts:
        result = work(run)
        counts.update(result.counts())
        run.exit_code = max(run.exit_code, result.exit_code)
    return result
