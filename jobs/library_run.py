"""The frame of every job that writes a library (DST): it holds DST alone while it runs (the lease) and
leaves one row in the runs table, whatever its outcome."""

from __future__ import annotations

import getpass
import os
import shlex
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from pipeline.config import Config
from pipeline.errors import ConfigError
from pipeline.io import store
from pipeline.io.lease import Lease
from pipeline.io.runs import RunRecorder


def current_user() -> str | None:
    """The login name of the user running this process, when the system knows it."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


def _exit_code(stop: SystemExit) -> int:
    if stop.code is None or isinstance(stop.code, int):
        return stop.code or 0
    return 1  # a message: Python prints it and exits 1


@contextmanager
def library_run(dst: str, command: list[str] | str, config: Config) -> Iterator[RunRecorder]:
    """Hold ``dst`` for the run of ``command`` (the lease: LeaseHeld, exit 3, when another run holds
    it; then nothing is written) and yield its RunRecorder; when the block ends, however it ends, append
    the run's row to the runs table, then let go. Its exit code: ``run.exit_code`` (0 unless the job set
    it), a SystemExit's code, 2 for a ConfigError, 1 for any other exception."""
    storage = config.resolved_storage()
    store.ensure_writable(dst, storage)
    run = RunRecorder(dst, storage, command if isinstance(command, str) else shlex.join(command), config)
    owner = f"{current_user()}@{socket.gethostname()}:{os.getpid()}"
    with Lease(dst, storage, owner, config.output.lease_ttl_s, run_id=run.run_id):
        code = 1
        try:
            yield run
            code = run.exit_code
        except SystemExit as stop:
            code = _exit_code(stop)
            raise
        except ConfigError:
            code = 2
            raise
        finally:
            run.finish(code)
