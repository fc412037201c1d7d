"""One writer per DST: a run holds DST by a lease at DST/_facepipe/lease.json (owner, host, pid, run id, its
generation, when taken, last renewed and when it expires), taken with an atomic create, renewed while the run
lives, marked let go when it ends. A run killed without letting go leaves its lease to expire; the next run
takes it over, itself atomically (a swap conditional on the expired version). Each taking of the lease has a
generation one above the last (the document stays when let go, to keep it): pipeline.io.fence ties every
commit a run makes to it, so that a run whose lease was taken over commits nothing more."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from pipeline import schema as S
from pipeline.config import StorageConfig
from pipeline.io import store
from pipeline.io.conditional import ConditionalObject, conditional_object

log = logging.getLogger(__name__)

LEASE_FILE = "lease.json"
_TRIES = 5  # a lease that changes under each look this often is held: another run is busy with it


class LeaseHeld(Exception):
    """Another run holds DST; ``holder`` is its lease (owner, host, pid, run_id, acquired_at,
    heartbeat_at, expires_at: ISO 8601 times, UTC)."""

    def __init__(self, tables: str, holder: dict):
        self.holder = holder
        super().__init__(
            f"{tables} is being written by {holder.get('owner')} (run {holder.get('run_id')}, since "
            f"{holder.get('acquired_at')}); its lease expires at {holder.get('expires_at')} unless that run "
            "renews it: wait for it to end (a run that was killed lets go when its lease expires)"
        )


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat(timespec="milliseconds")


def _expired(holder: dict) -> bool:
    return dt.datetime.fromisoformat(holder["expires_at"]) <= dt.datetime.now(dt.timezone.utc)


def lease_uri(tables: str) -> str:
    """Where the lease of the library at ``tables`` is kept."""
    return store.join(tables, S.METADATA_FOLDER, LEASE_FILE)


# The lease objects read so far, by uri and storage: opening an S3 filesystem costs far more than a read
_READ: dict[tuple[str, str], ConditionalObject] = {}


def read_lease(tables: str, storage: StorageConfig | None) -> dict | None:
    """The lease of the library at ``tables`` as it is now (``released_at`` set once its run let go of it; absent
    before any run took it), or None when there is none."""
    uri = lease_uri(tables)
    key = (uri, repr(storage))
    if key not in _READ:
        _READ[key] = conditional_object(uri, storage)
    found = _READ[key].read()
    return json.loads(found[0]) if found else None


class Lease:
    """Context manager holding DST for one run: entering takes the lease (LeaseHeld when another run
    holds a live one; an expired one is taken over), a daemon thread renews it every ``ttl_s`` / 3,
    leaving marks it let go if it is still this run's. ``generation``: this taking's, one above the last
    (``recorded_generation()`` + 1 when DST has no lease document: the highest generation its tables
    record, pipeline.io.fence); ``taken_over``: True when the run before may still be alive (its lease
    expired without being let go, or DST's tables record a generation but its lease document is gone)."""

    def __init__(
        self,
        tables: str,
        storage: StorageConfig | None,
        owner: str,
        ttl_s: float = 120.0,
        run_id: str | None = None,
        recorded_generation: Callable[[], int] = lambda: 0,
    ):
        self.tables, self.owner, self.ttl_s, self.run_id = tables, owner, ttl_s, run_id
        self.uri = lease_uri(tables)
        self._object = conditional_object(self.uri, storage)
        self._recorded_generation = recorded_generation
        self._acquired_at = time.time()
        self.generation = 0
        self.taken_over = False
        self._tag: str | None = None  # the version of the lease this run last wrote; None once it lost it
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew_until_stopped, name=f"lease {self.uri}", daemon=True)

    def _document(self, released: bool = False) -> bytes:
        now = time.time()
        holder = {
            "owner": self.owner,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "run_id": self.run_id,
            "generation": self.generation,
            "acquired_at": _iso(self._acquired_at),
            "heartbeat_at": _iso(now),
            "expires_at": _iso(now if released else now + self.ttl_s),
            "released_at": _iso(now) if released else None,
        }
        return json.dumps(holder, indent=2).encode()

    def _create(self) -> str | None:
        """Create the first lease of DST: its tag, or None when another run created one first."""
        recorded = self._recorded_generation()
        self.generation, self.taken_over = recorded + 1, recorded > 0
        mine = self._document()
        tag = self._object.create(mine)
        if tag is None and (found := self._object.read()) is not None and found[0] == mine:
            tag = found[1]  # our create was retried after its first attempt had landed
        if tag is not None and self.taken_over:
            log.warning(
                "%s has no lease but its tables were written under lease generation %d: taking generation %d "
                "(a run of an earlier one, if alive, commits nothing more)",
                self.tables,
                recorded,
                self.generation,
            )
        return tag

    def _take(self) -> str:
        holder: dict = {}
        for _ in range(_TRIES):
            found = self._object.read()
            if found is None:
                tag = self._create()
                if tag is not None:
                    return tag
                continue  # another run created it first: look again
            data, tag = found
            holder = json.loads(data)
            if not holder.get("released_at") and not _expired(holder):
                raise LeaseHeld(self.tables, holder)
            self.generation, self.taken_over = holder.get("generation", 0) + 1, not holder.get("released_at")
            tag = self._object.replace(self._document(), tag)
            if tag is None:
                continue  # another run swapped it first
            if self.taken_over:
                log.warning(
                    "took over the lease of %s from %s (run %s), expired at %s without being let go: was it "
                    "killed? (if alive, it commits nothing more: this is lease generation %d)",
                    self.tables,
                    holder.get("owner"),
                    holder.get("run_id"),
                    holder["expires_at"],
                    self.generation,
                )
            return tag
        raise LeaseHeld(self.tables, holder)

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                tag = self._object.replace(self._document(), self._tag)
            except OSError as exc:  # the store is unreachable for now: the lease lasts until it expires
                log.warning("could not renew the lease of %s (%s); trying again", self.tables, exc)
                continue
            if tag is None:
                log.error(
                    "the lease of %s was taken over by another run (this one stopped renewing it for %.0f s): "
                    "this run commits nothing more there",
                    self.tables,
                    self.ttl_s,
                )
                self._tag = None
                return
            self._tag = tag

    def __enter__(self) -> Lease:
        self._tag = self._take()
        self._renewer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._renewer.join()
        if self._tag is None:
            return
        try:
            self._object.replace(self._document(released=True), self._tag)  # kept: the next generation counts from it
        except OSError as exc:
            log.warning("could not let go of the lease of %s (%s): it expires in %.0f s", self.tables, exc, self.ttl_s)
