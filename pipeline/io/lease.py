"""One writer per DST: a run holds DST by a lease at DST/_facepipe/lease.json (owner, host, pid, run
id, when taken, last renewed and when it expires), taken with an atomic create, renewed while the run
lives, removed when it ends. A run killed without letting go leaves its lease to expire; the next run
takes it over, itself atomically (a swap conditional on the expired version)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
import time

from pipeline import schema as S
from pipeline.config import StorageConfig
from pipeline.io import store
from pipeline.io.conditional import conditional_object

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


class Lease:
    """Context manager holding DST for one run: entering takes the lease (LeaseHeld when another run
    holds a live one; an expired one is taken over), a daemon thread renews it every ``ttl_s`` / 3,
    leaving removes it if it is still this run's."""

    def __init__(
        self, tables: str, storage: StorageConfig | None, owner: str, ttl_s: float = 120.0, run_id: str | None = None
    ):
        self.tables, self.owner, self.ttl_s, self.run_id = tables, owner, ttl_s, run_id
        self.uri = store.join(tables, S.METADATA_FOLDER, LEASE_FILE)
        self._object = conditional_object(self.uri, storage)
        self._acquired_at = time.time()
        self._tag: str | None = None  # the version of the lease this run last wrote; None once it lost it
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew_until_stopped, name=f"lease {self.uri}", daemon=True)

    def _document(self) -> bytes:
        now = time.time()
        holder = {
            "owner": self.owner,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "run_id": self.run_id,
            "acquired_at": _iso(self._acquired_at),
            "heartbeat_at": _iso(now),
            "expires_at": _iso(now + self.ttl_s),
        }
        return json.dumps(holder, indent=2).encode()

    def _take(self) -> str:
        mine = self._document()
        holder: dict = {}
        for _ in range(_TRIES):
            tag = self._object.create(mine)
            if tag is not None:
                return tag
            found = self._object.read()
            if found is None:
                continue  # let go of meanwhile
            data, tag = found
            if data == mine:
                return tag  # our create was retried after its first attempt had landed
            holder = json.loads(data)
            if not _expired(holder):
                raise LeaseHeld(self.tables, holder)
            tag = self._object.replace(mine, tag)
            if tag is not None:
                log.warning(
                    "took over the lease of %s from %s (run %s), expired at %s without being let go: was it killed?",
                    self.tables,
                    holder.get("owner"),
                    holder.get("run_id"),
                    holder["expires_at"],
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
                    "two runs may now write it",
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
            self._object.delete(self._tag)
        except OSError as exc:
            log.warning("could not let go of the lease of %s (%s): it expires in %.0f s", self.tables, exc, self.ttl_s)
