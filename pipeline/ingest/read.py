"""The read stage: photo uris in, their bytes and content ids out; a failed read is that photo's error."""

from __future__ import annotations

import hashlib
import time

import pyarrow as pa

from pipeline import schema as S
from pipeline.config import StorageConfig
from pipeline.ingest.timing import add_seconds, zero_seconds
from pipeline.io import store


def content_id(data: bytes) -> str:
    """The image_id of a photo: sha256 of its bytes, hex."""
    return hashlib.sha256(data).hexdigest()


def read_photos(batch: pa.Table, storage: StorageConfig | None = None) -> pa.Table:
    """Stage: uris in; their bytes and image_id (sha256) out (READ_SCHEMA). Read failures become errors."""
    started = time.perf_counter()
    uris = batch.column(S.URI).to_pylist()
    ids, errors, payloads = [], [], []
    for found in store.read_files(uris, storage):
        failed = isinstance(found, Exception)
        ids.append(None if failed else content_id(found))
        errors.append(f"{S.READ_FAILED}: {type(found).__name__}: {found}" if failed else None)
        payloads.append(b"" if failed else found)
    seconds = add_seconds(zero_seconds(len(uris)), {"read": time.perf_counter() - started})
    columns = {S.URI: uris, S.IMAGE_ID: ids, S.ERROR: errors, S.BYTES: payloads, S.SECONDS: seconds}
    return pa.table(columns, schema=S.READ_SCHEMA)
