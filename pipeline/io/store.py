"""The image store and output location: list photos, read their bytes, check and address outputs.

Local folders and s3:// prefixes go through fsspec (s3fs), so an S3-compatible endpoint works the
same as AWS. Storage settings are resolved here, for every caller alike (config, then the AWS
environment variables). This module and ``tables`` are the only ones that touch SRC or DST.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, NamedTuple

import fsspec
import pyarrow as pa

from pipeline import schema as S
from pipeline.config import StorageConfig, resolve_storage
from pipeline.errors import ConfigError

# Called with the uri before each write_bytes and remove_file; one raises to refuse it (check_before_writing)
_WRITE_CHECKS: list[Callable[[str], None]] = []


def is_s3(uri: str) -> bool:
    """True for s3:// (and s3a://) addresses."""
    return uri.startswith(("s3://", "s3a://"))


def canonical_location(uri: str) -> str:
    """The one spelling of the place ``uri`` names, to compare places however they were typed: an s3://
    or s3a:// address as s3://bucket/key without trailing slashes (S3 keys are compared literally: no
    folders, so . and .. are plain characters there), a local path absolute, with ~ expanded, ., .. and
    repeated or trailing slashes resolved and symbolic links followed (also for a part that does not
    exist yet)."""
    if is_s3(uri):
        return "s3://" + uri.split("://", 1)[1].rstrip("/")
    return os.path.realpath(os.path.expanduser(uri))


def filesystem(uri: str, storage: StorageConfig | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem serving ``uri`` and the path inside it."""
    if is_s3(uri):
        storage = resolve_storage(storage)
        client_kwargs: dict[str, Any] = {}
        if storage.endpoint_url:
            client_kwargs["endpoint_url"] = storage.endpoint_url
        if storage.region:
            client_kwargs["region_name"] = storage.region
        fs, path = fsspec.core.url_to_fs(uri, client_kwargs=client_kwargs, skip_instance_cache=True)
        return fs, path
    fs, path = fsspec.core.url_to_fs(os.path.abspath(os.path.expanduser(uri)))
    return fs, path


def _uri_of(fs: fsspec.AbstractFileSystem, path: str) -> str:
    return f"s3://{path}" if "s3" in fs.protocol else path


def _mtime(info: dict[str, Any]) -> dt.datetime | None:
    value = info.get("mtime", info.get("LastModified"))
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    return dt.datetime.fromtimestamp(float(value), tz=dt.timezone.utc)


def _follow_link(fs: fsspec.AbstractFileSystem, info: dict[str, Any]) -> dict[str, Any]:
    """The target's details for a symbolic link (a broken link stays a 0-byte file whose read fails)."""
    if not info.get("islink"):
        return info
    try:
        return {**fs.info(info["name"]), "name": info["name"]}
    except OSError:
        return {"name": info["name"], "type": "file", "size": 0}


def _files_below(root: str, storage: StorageConfig | None) -> tuple[fsspec.AbstractFileSystem, list[dict[str, Any]]]:
    """The filesystem serving ``root`` and the details of every file below it (recursive, links followed),
    sorted by path. Raises ConfigError when ``root`` does not exist or cannot be listed."""
    fs, path = filesystem(root, storage)
    try:
        if not fs.exists(path) or not fs.isdir(path):
            raise ConfigError(f"input {root} is not a readable folder or prefix: check the path and credentials")
        found = fs.find(path, detail=True)
    except (PermissionError, OSError) as exc:
        raise ConfigError(f"input {root} cannot be listed ({exc}): check the path and credentials") from exc
    infos = sorted((_follow_link(fs, info) for info in found.values()), key=lambda info: info["name"])
    return fs, [info for info in infos if info.get("type") == "file"]


def list_photos(src: str, storage: StorageConfig | None, extensions: tuple[str, ...]) -> pa.Table:
    """Every photo below ``src`` (recursive), as a table of uri, size, mtime and etag, sorted by uri.

    Raises ConfigError when ``src`` does not exist or cannot be listed.
    """
    fs, files = _files_below(src, storage)
    suffixes = tuple(e.lower() for e in extensions)
    rows = [info for info in files if info["name"].lower().endswith(suffixes)]
    return pa.table(
        {
            S.URI: [_uri_of(fs, info["name"]) for info in rows],
            S.SIZE: [int(info.get("size") or 0) for info in rows],
            S.MTIME: [_mtime(info) for info in rows],
            S.ETAG: [str(info["ETag"]).strip('"') if info.get("ETag") else None for info in rows],
            S.LIBRARY: [None] * len(rows),
        },
        schema=S.LISTING_SCHEMA,
    )


class ListedFile(NamedTuple):
    """A file found by list_files: its uri (as list_photos spells it), its path below the folder listed, its size."""

    uri: str
    path: str
    size: int


def list_files(root: str, storage: StorageConfig | None) -> list[ListedFile]:
    """Every file below ``root`` (recursive), whatever its name, sorted by uri. Raises ConfigError when
    ``root`` does not exist or cannot be listed."""
    fs, files = _files_below(root, storage)
    top = filesystem(root, storage)[1].rstrip("/") + "/"
    return [
        ListedFile(_uri_of(fs, info["name"]), info["name"].removeprefix(top), int(info.get("size") or 0))
        for info in files
    ]


def folders_below(src: str, uris: list[str], storage: StorageConfig | None = None) -> list[str | None]:
    """For each of ``uris`` (as list_photos spells them), the name of the folder directly below ``src`` that
    holds it; None for a uri directly in ``src`` or outside it."""
    fs, root = filesystem(src, storage)
    prefix = _uri_of(fs, root.rstrip("/")) + "/"
    found: list[str | None] = []
    for uri in uris:
        rest = uri[len(prefix) :] if uri.startswith(prefix) else ""
        found.append(rest.split("/", 1)[0] if "/" in rest else None)
    return found


def read_files(uris: list[str], storage: StorageConfig | None = None) -> list[bytes | Exception]:
    """The bytes of each file, or the exception its read raised (one failure never stops the others)."""
    fs = filesystem(uris[0], storage)[0] if uris else None
    found: list[bytes | Exception] = []
    for uri in uris:
        try:
            found.append(fs.cat_file(uri))
        except Exception as exc:  # any read failure is that photo's outcome, not the batch's
            found.append(exc)
    return found


def join(root: str, *parts: str) -> str:
    """``root`` joined with path parts, for local paths and s3:// prefixes alike."""
    return "/".join([root.rstrip("/"), *parts])


def ensure_writable(dst: str, storage: StorageConfig | None) -> None:
    """Create ``dst`` if needed and prove a file can be written and removed there.

    Raises ConfigError saying what to fix when it cannot.
    """
    fs, root = filesystem(dst, storage)
    probe = join(root, f".facepipe-write-probe-{uuid.uuid4().hex}")
    try:
        if not is_s3(dst):
            fs.makedirs(root, exist_ok=True)
        fs.pipe_file(probe, b"ok")
        fs.rm_file(probe)
    except Exception as exc:
        raise ConfigError(
            f"output {dst} is not writable ({type(exc).__name__}: {exc}): pick another --output or fix its permissions"
        ) from exc


def check_before_writing(check: Callable[[str], None]) -> None:
    """Have ``check(uri)`` called before every later write_bytes (write_text) and remove_file of ``uri``: it raises
    to refuse the write (pipeline.io.fence refuses those of a run that lost the lease of the library holding
    ``uri``). A check given again is kept once."""
    if check not in _WRITE_CHECKS:
        _WRITE_CHECKS.append(check)


def _checked(uri: str) -> None:
    for check in _WRITE_CHECKS:
        check(uri)


def write_bytes(uri: str, data: bytes, storage: StorageConfig | None) -> None:
    """Write a file (metadata, index files) at ``uri``, creating parent folders."""
    _checked(uri)
    fs, path = filesystem(uri, storage)
    if not is_s3(uri):
        fs.makedirs(os.path.dirname(path), exist_ok=True)
    fs.pipe_file(path, data)


def write_text(uri: str, text: str, storage: StorageConfig | None) -> None:
    """Write a small text file (metadata beside the tables), creating parent folders."""
    write_bytes(uri, text.encode(), storage)


def read_bytes(uri: str, storage: StorageConfig | None) -> bytes:
    """The bytes of the file at ``uri``; FileNotFoundError when there is none."""
    fs, path = filesystem(uri, storage)
    return fs.cat_file(path)


def remove_file(uri: str, storage: StorageConfig | None) -> None:
    """Delete the file at ``uri`` if it exists."""
    _checked(uri)
    fs, path = filesystem(uri, storage)
    if fs.exists(path):
        fs.rm_file(path)


def remove_empty_folders(uri: str, top: str) -> None:
    """Remove the local folder holding the file ``uri`` and each folder above it, up to ``top`` (included),
    while they are empty: the first that still holds anything, and every folder above it, stays. Nothing
    to do on S3 (no folders)."""
    if is_s3(uri):
        return
    folder, top = os.path.dirname(os.path.abspath(uri)), os.path.abspath(top)
    while folder == top or folder.startswith(top + os.sep):
        try:
            os.rmdir(folder)  # refuses a folder that holds anything
        except OSError:  # not empty, or already gone (with the empty folders above it)
            return
        folder = os.path.dirname(folder)


def delta_storage_options(uri: str, storage: StorageConfig | None = None) -> dict[str, str] | None:
    """Storage options for deltalake (delta-rs) at ``uri``: endpoint, region and keys from config/env."""
    if not is_s3(uri):
        return None
    storage = resolve_storage(storage)
    options = {"AWS_S3_ALLOW_UNSAFE_RENAME": "true"}  # one writer per DST (pipeline.io.lease), no lock table
    if storage.endpoint_url:
        options["AWS_ENDPOINT_URL"] = storage.endpoint_url
        if storage.endpoint_url.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    if storage.region:
        options["AWS_REGION"] = storage.region
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if os.environ.get(key):
            options[key] = os.environ[key]
    return options


def _filesystems(storage: StorageConfig | None) -> Callable[[str], tuple[fsspec.AbstractFileSystem, str]]:
    """A resolver of uris to (filesystem, path) that opens one filesystem per kind (local, S3) and
    reuses it: opening an S3 filesystem costs far more than one request."""
    opened: dict[bool, fsspec.AbstractFileSystem] = {}

    def resolve(uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
        s3 = is_s3(uri)
        if s3 not in opened:
            opened[s3] = filesystem(uri, storage)[0]
        fs = opened[s3]
        return fs, fs._strip_protocol(uri) if s3 else os.path.abspath(os.path.expanduser(uri))

    return resolve


def file_sha256s(uris: list[str], storage: StorageConfig | None) -> list[str | Exception]:
    """The hex sha256 of each file's bytes, or the exception its read raised (FileNotFoundError when
    there is no file; one failure never stops the others)."""
    resolve = _filesystems(storage)
    found: list[str | Exception] = []
    for uri in uris:
        fs, path = resolve(uri)
        try:
            found.append(hashlib.sha256(fs.cat_file(path)).hexdigest())
        except Exception as exc:  # any read failure is that file's outcome
            found.append(exc)
    return found


def file_opener(storage: StorageConfig | None) -> Callable[[str], BinaryIO]:
    """A function opening the file at a uri (local path or s3:// address) for reading: a binary, seekable
    file object to use as a context manager (FileNotFoundError when there is none); one filesystem per kind
    is opened and reused across calls."""
    resolve = _filesystems(storage)

    def open_file(uri: str) -> BinaryIO:
        fs, path = resolve(uri)
        return fs.open(path, "rb")

    return open_file


def _move_one(src: str, dst: str, resolve: Callable[[str], tuple[fsspec.AbstractFileSystem, str]]) -> None:
    src_fs, src_path = resolve(src)
    dst_fs, dst_path = resolve(dst)
    if dst_fs.exists(dst_path):
        raise FileExistsError(f"{dst} already exists: not overwritten")
    if not src_fs.isfile(src_path):
        raise FileNotFoundError(src)
    if not is_s3(dst):
        os.makedirs(os.path.dirname(dst_path), exist_ok=True)
    if not is_s3(src) and not is_s3(dst):
        # a rename on one device; across devices shutil copies (with its times) and only then unlinks
        shutil.move(src_path, dst_path)
        return
    if is_s3(src) and is_s3(dst):
        src_fs.copy(src_path, dst_path)  # server-side copy: one endpoint serves both (one storage config)
    else:
        dst_fs.pipe_file(dst_path, src_fs.cat_file(src_path))
    copied, original = dst_fs.info(dst_path).get("size"), src_fs.info(src_path).get("size")
    if copied != original:
        raise OSError(f"copy of {src} to {dst} is incomplete ({copied} of {original} bytes): source kept")
    src_fs.rm_file(src_path)


def move_files(moves: Iterable[tuple[str, str]], storage: StorageConfig | None) -> Iterator[Exception | None]:
    """Move each file (source uri, destination uri; local paths and s3:// alike, either side), creating
    parent folders, yielding after each move None or the exception it raised: FileExistsError when the
    destination holds something (never overwritten), FileNotFoundError when the source holds no file.
    A source is removed only once its copy is complete (S3: copy, then delete); a failed move keeps it.
    """
    resolve = _filesystems(storage)
    for src, dst in moves:
        try:
            _move_one(src, dst, resolve)
        except Exception as exc:  # one failed move is that file's outcome; the caller goes on
            yield exc
        else:
            yield None
