"""The runs table at DST: one row per run of a job that writes it, appended when the run ends, whatever
its outcome: the command, its steps (status, seconds, counts), the configuration hash, the package and
model versions, the host, start and end, and the exit code."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version

import pyarrow as pa
from deltalake import write_deltalake

from pipeline import schema as S
from pipeline.config import Config, StorageConfig, config_as_dict
from pipeline.io import store
from pipeline.io.fence import fenced_commit, write_modes

log = logging.getLogger(__name__)

RUNS_TABLE = S.RUNS_TABLE
_PACKAGES = ("facepipe", "ray", "deltalake", "faiss-cpu", "faiss-gpu", "pyarrow", "torch", "onnxruntime")


def _installed_versions() -> dict[str, str]:
    found = {}
    for name in _PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class RunRecorder:
    """What one run did, written as one row of the runs table at DST by ``finish``.

    ``versions`` starts with the installed packages and the models configured; a job that resolved its
    models replaces ``versions["models"]`` with their ids. ``exit_code`` is what the run exits with
    when the job ends normally (0 unless the job sets another: pipeline.io.library_run records it)."""

    def __init__(self, tables: str, storage: StorageConfig | None, command: str, config: Config):
        self.tables, self.storage, self.command = tables, storage, command
        self.run_id = _now().strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]
        resolved = json.dumps(config_as_dict(config), sort_keys=True)
        self.config_hash = hashlib.sha256(resolved.encode()).hexdigest()
        self.versions: dict = {
            **_installed_versions(),
            "models": {"detector": config.models.detector, "embedder": config.models.embedder},
        }
        self.exit_code = 0
        self.started_at = _now()
        self._steps: list[dict] = []

    def _record(self, name: str, status: str, seconds: float, counts: dict) -> None:
        # counts: the values a step reports; lists and mappings are left out (a row stays small)
        kept = {key: value for key, value in counts.items() if not isinstance(value, (list, tuple, set, dict))}
        self._steps.append(
            {
                S.STEP_NAME: name,
                S.STEP_STATUS: status,
                S.STEP_SECONDS: round(seconds, 3),
                S.STEP_COUNTS: json.dumps(kept, default=str),
            }
        )

    @contextmanager
    def step(self, name: str) -> Iterator[dict]:
        """Time step ``name``: it yields a dict the caller fills with counts; the step is recorded ok,
        or failed when the block raises (the exception goes on)."""
        counts: dict = {}
        started, status = time.perf_counter(), S.STEP_FAILED
        try:
            yield counts
            status = S.STEP_OK
        finally:
            self._record(name, status, time.perf_counter() - started, counts)

    def skip(self, name: str, why: str) -> None:
        """Record step ``name`` as skipped, saying ``why`` (in its counts)."""
        self._record(name, S.STEP_SKIPPED, 0.0, {"why": why})

    def steps(self) -> list[dict]:
        """The steps recorded so far, in order: {step, status, seconds, **counts}."""
        return [
            {
                "step": s[S.STEP_NAME],
                "status": s[S.STEP_STATUS],
                "seconds": s[S.STEP_SECONDS],
                **json.loads(s[S.STEP_COUNTS]),
            }
            for s in self._steps
        ]

    def finish(self, exit_code: int) -> None:
        """Append the run's row to the runs table at DST (one Delta commit)."""
        row = {
            S.RUN_ID: self.run_id,
            S.COMMAND: self.command,
            S.STEPS: self._steps,
            S.CONFIG_HASH: self.config_hash,
            S.VERSIONS: json.dumps(self.versions, sort_keys=True, default=str),
            S.HOST: socket.gethostname(),
            S.STARTED_AT: self.started_at,
            S.ENDED_AT: _now(),
            S.EXIT_CODE: exit_code,
        }
        options = store.delta_storage_options(self.tables, self.storage)
        with fenced_commit(store.join(self.tables, RUNS_TABLE), options) as (target, properties):
            write_deltalake(
                target,
                pa.Table.from_pylist([row], schema=S.RUNS_SCHEMA),
                **write_modes(target, "append"),
                storage_options=options,
                commit_properties=properties,
            )
        log.info("run %s ended with exit code %d (runs table at %s)", self.run_id, exit_code, self.tables)
