"""A small object at a folder or an S3 prefix that changes only by compare-and-swap: created only where
none exists, replaced or deleted only while it is still the version read (its tag). On S3 these are
conditional requests (If-None-Match: *, If-Match: ETag); on a local file, an exclusive create (a hard
link, which fails where a file exists) and a rename, each checked under a lock."""

from __future__ import annotations

import fcntl
import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from pipeline.config import StorageConfig
from pipeline.io import store

# S3's answers to a condition that did not hold: 412, or 409 when another conditional write to the
# key was in flight (AWS); a missing key answers If-Match with 404 (FileNotFoundError).
_LOST_RACE = {"PreconditionFailed", "ConditionalRequestConflict"}


class ConditionalObject(Protocol):
    def create(self, data: bytes) -> str | None:
        """Write ``data`` where no object exists: its tag, or None when one exists."""

    def read(self) -> tuple[bytes, str] | None:
        """The object's bytes and tag, or None when there is none."""

    def replace(self, data: bytes, tag: str) -> str | None:
        """Write ``data`` over the object if its tag is still ``tag``: the new tag, or None when it
        changed or is gone."""

    def delete(self, tag: str) -> bool:
        """Delete the object if its tag is still ``tag``: False when it changed or is gone."""


def conditional_object(uri: str, storage: StorageConfig | None) -> ConditionalObject:
    """The object at ``uri`` (a local path or s3:// address; a local folder is created)."""
    return _S3Object(uri, storage) if store.is_s3(uri) else _LocalObject(uri)


class _S3Object:
    def __init__(self, uri: str, storage: StorageConfig | None):
        self.fs, path = store.filesystem(uri, storage)
        self.bucket, self.key, _ = self.fs.split_path(path)

    def _put(self, data: bytes, **condition: str) -> str | None:
        try:
            return self.fs.call_s3("put_object", Bucket=self.bucket, Key=self.key, Body=data, **condition)["ETag"]
        except OSError as exc:  # s3fs turns the ClientError into an OSError (FileExistsError for If-None-Match)
            if _lost_race(exc):
                return None
            raise

    def create(self, data: bytes) -> str | None:
        return self._put(data, IfNoneMatch="*")

    def read(self) -> tuple[bytes, str] | None:
        # The tag is read first: the bytes are then at least as new, so a swap on that tag fails
        # whenever the bytes are newer than it (one GET cannot return both through s3fs).
        path = f"{self.bucket}/{self.key}"
        try:
            tag = self.fs.info(path, refresh=True)["ETag"]
            return self.fs.cat_file(path), tag
        except FileNotFoundError:
            return None

    def replace(self, data: bytes, tag: str) -> str | None:
        return self._put(data, IfMatch=tag)

    def delete(self, tag: str) -> bool:
        try:
            self.fs.call_s3("delete_object", Bucket=self.bucket, Key=self.key, IfMatch=tag)
        except OSError as exc:
            if _lost_race(exc):
                return False
            raise
        return True


def _lost_race(exc: OSError) -> bool:
    """True when ``exc`` says a condition did not hold (the object exists, changed or is gone)."""
    response = getattr(exc.__cause__, "response", None) or {}
    return isinstance(exc, (FileExistsError, FileNotFoundError)) or response.get("Error", {}).get("Code") in _LOST_RACE


class _LocalObject:
    # A file has no compare-and-swap: each read-compare-write runs under an exclusive flock of a file
    # beside it (released by the kernel when its holder dies, so a killed process never leaves it held).
    # The tag of a version is the hash of its bytes.

    def __init__(self, uri: str):
        self.path = os.path.abspath(os.path.expanduser(uri))
        os.makedirs(os.path.dirname(self.path), exist_ok=True)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.path + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _written(self, data: bytes) -> str:
        """A new file holding ``data`` beside the object, whole on disk before it takes the object's name."""
        temporary = f"{self.path}.{uuid.uuid4().hex}.tmp"
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        return temporary

    def _tag_now(self) -> str | None:
        found = self.read()
        return found[1] if found else None

    def create(self, data: bytes) -> str | None:
        temporary = self._written(data)
        try:
            with self._locked():
                os.link(temporary, self.path)  # atomic, and fails where a file exists (like O_CREAT | O_EXCL)
        except FileExistsError:
            return None
        finally:
            os.unlink(temporary)
        return _tag(data)

    def read(self) -> tuple[bytes, str] | None:
        try:
            with open(self.path, "rb") as file:
                data = file.read()
        except FileNotFoundError:
            return None
        return data, _tag(data)

    def replace(self, data: bytes, tag: str) -> str | None:
        temporary = self._written(data)
        try:
            with self._locked():
                if self._tag_now() != tag:
                    return None
                os.replace(temporary, self.path)  # readers see the old bytes or the new, never a mix
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        return _tag(data)

    def delete(self, tag: str) -> bool:
        with self._locked():
            if self._tag_now() != tag:
                return False
            os.unlink(self.path)
        return True


def _tag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
