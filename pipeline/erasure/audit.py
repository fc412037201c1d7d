"""`facepipe audit`: the files under DST that still hold given data: a library's (its rows, and the uris, image
ids, face ids and embeddings of its rows, wherever they are written), photos' (uris) or embeddings. Every file is
read as what it is, whether or not a table refers to it: Delta data files (older versions included), checkpoints
and logs, Parquet, FAISS indexes, NumPy arrays, JSON, HTML, thumbnails; any other file as raw bytes. It writes
nothing and takes no lease."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import schema as S
from pipeline.config import Config, load_config
from pipeline.erasure.strings import FACE_IDS, IMAGE_IDS, KINDS, URIS, SoughtStrings
from pipeline.erasure.vectors import SoughtVectors
from pipeline.errors import ConfigError
from pipeline.io import store
from pipeline.io.tables import referenced_files
from pipeline.progress import Progress
from pipeline.results import JobResult
from pipeline.similarity.thresholds import same_vector_threshold

log = logging.getLogger(__name__)

BATCH_ROWS = 8192  # Parquet rows read at once
CHUNK_BYTES = 8 << 20  # bytes of a text or raw file searched at once
DELTA_LOG = "_delta_log"

# What a file is, as the audit reads it and reports it
DELTA_DATA = "delta data file"
UNREFERENCED = "delta data file, unreferenced"  # an older version's, or an orphan: vacuum removes it
CHECKPOINT = "delta checkpoint"
DELTA_COMMIT = "delta log"
PARQUET = "parquet"
FAISS_INDEX = "faiss index"
NUMPY = "numpy array"
JSON_FILE = "json"
HTML_PAGE = "html"
JPEG = "jpeg"
OTHER = "file"
_EXTENSIONS = {
    ".parquet": PARQUET,
    ".faiss": FAISS_INDEX,
    ".npy": NUMPY,
    ".json": JSON_FILE,
    ".html": HTML_PAGE,
    ".htm": HTML_PAGE,
    ".jpg": JPEG,
    ".jpeg": JPEG,
}

# How a file that is not what its name says fails to read (Parquet, FAISS, NumPy)
_READ_FAILURES = (OSError, RuntimeError, ValueError, EOFError, pa.ArrowException)
EMBEDDINGS, LIBRARY_ROWS = "embeddings", "library_rows"
HELD = (URIS, IMAGE_IDS, FACE_IDS, EMBEDDINGS, LIBRARY_ROWS)  # what a file may hold: the counts of a file found


@dataclass(frozen=True)
class AuditResult(JobResult):
    """What an audit read and found: the files holding any of the data sought (``files_found``: each one's
    path below ``tables``, its kind, and how many of the uris, image ids, face ids and embeddings sought it
    holds and how many rows of the library), what was sought (how many of each, the library), the cosine from
    which a stored vector is a sought embedding (``same_vector``: the threshold and its source), the files
    and bytes read, the files searched as raw bytes because they did not read as their kind, and the files
    gone between the listing and their reading."""

    tables: str
    sought: dict
    same_vector: dict
    files_read: int
    bytes_read: int
    files_found: list[dict] = field(default_factory=list)
    read_raw: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"found": len(self.files_found), **super().as_dict(), "seconds": round(self.seconds, 3)}

    @property
    def exit_code(self) -> int:
        """1 when a file holds any of the data sought, else 0."""
        return 1 if self.files_found else 0


@dataclass(frozen=True)
class _Sought:
    """Everything one audit looks for."""

    strings: SoughtStrings
    vectors: SoughtVectors
    library: str | None

    @property
    def overlap(self) -> int:
        """Bytes that chunks read in turn share: any spelling, and any vector at any byte offset, lies whole in
        one of them."""
        return max(self.strings.longest, 4 * max(self.vectors.dims, default=0) + 3)


class _Found:
    """What one file holds: (kind, value) pairs of the strings sought, numbers of the vectors sought, rows of
    the library."""

    def __init__(self) -> None:
        self.strings: set[tuple[str, str]] = set()
        self.vectors: set[int] = set()
        self.library_rows = 0

    def __bool__(self) -> bool:
        return bool(self.strings or self.vectors or self.library_rows)

    def counts(self) -> dict[str, int]:
        """How many of the values sought of each kind, and how many rows of the library."""
        kinds = [kind for kind, _ in self.strings]
        strings = {kind: kinds.count(kind) for kind in KINDS}
        return {**strings, EMBEDDINGS: len(self.vectors), LIBRARY_ROWS: self.library_rows}


def audit(
    tables: str,
    config: Config | None = None,
    *,
    library: str | None = None,
    uris: Iterable[str] = (),
    embeddings: np.ndarray | None = None,
) -> AuditResult:
    """Read every file under ``tables`` (a folder or an s3:// prefix) and list those that hold any of: the rows
    of ``library`` (a ``library`` column equal to it, in any Parquet file) and the uris, image ids, face ids and
    embeddings of those rows; the photos ``uris`` and the image ids, face ids and embeddings of rows of theirs;
    the ``embeddings`` (float rows). A string is found in any of its written spellings, an embedding within
    cosine 0.9999 (the threshold service's same_vector_threshold). Returns what was found in which file (exit
    code 1 when anything was); ConfigError when nothing is sought or ``tables`` cannot be listed."""
    config = config or load_config()
    uris = set(uris)
    given = [] if embeddings is None else list(np.asarray(embeddings, np.float32).reshape(len(embeddings), -1))
    if library is None and not uris and not given:
        raise ConfigError("nothing to look for: name a library (--library), photos (--uri, --uris) or --embeddings")
    started, storage = time.monotonic(), config.resolved_storage()
    files = store.list_files(tables, storage)
    open_file = store.file_opener(storage)
    values, vectors = {URIS: set(uris)}, list(given)
    if library is not None or uris:
        parquet = [f.uri for f in files if f.path.endswith(".parquet")]
        derived, derived_vectors = _data_of_rows(parquet, open_file, library, uris)
        for kind, found in derived.items():
            values.setdefault(kind, set()).update(found)
        vectors += derived_vectors
    same_vector = same_vector_threshold()
    sought = _Sought(SoughtStrings(values), SoughtVectors(vectors, same_vector.value), library)
    log.info("audit of %s: %d files; sought %s", tables, len(files), _what_is_sought(sought))
    kinds = _kinds(tables, [f.path for f in files], storage)
    found, read_raw, gone, read = [], [], [], 0
    with Progress("audit", sum(f.size for f in files), "B") as progress:
        for listed in files:
            try:
                holds, raw = _scan(listed, kinds[listed.path], sought, open_file)
            except FileNotFoundError:
                gone.append(listed.path)
                continue
            finally:
                progress.advance(listed.size)
            read += listed.size
            if raw:
                read_raw.append(listed.path)
            if holds:
                found.append({"path": listed.path, "kind": kinds[listed.path], **holds.counts()})
    log.info("audit of %s: %d of %d files hold data sought", tables, len(found), len(files))
    return AuditResult(
        tables=tables,
        sought=_what_is_sought(sought),
        same_vector=same_vector.describe(),
        files_read=len(files) - len(gone),
        bytes_read=read,
        files_found=found,
        read_raw=read_raw,
        gone=gone,
        seconds=time.monotonic() - started,
    )


def _what_is_sought(sought: _Sought) -> dict:
    return {"library": sought.library, **sought.strings.counts(), EMBEDDINGS: sought.vectors.count}


def _data_of_rows(
    parquet: list[str], open_file: Callable[[str], BinaryIO], library: str | None, uris: set[str]
) -> tuple[dict[str, set[str]], list[np.ndarray]]:
    """The uris, image ids, face ids and embeddings of the rows of ``library`` and of the photos ``uris`` in
    the Parquet files ``parquet`` (every version of every table, referenced or not)."""
    values: dict[str, set[str]] = {URIS: set(), IMAGE_IDS: set(), FACE_IDS: set()}
    vectors: list[np.ndarray] = []
    wanted = {URIS: S.URI, IMAGE_IDS: S.IMAGE_ID, FACE_IDS: S.FACE_ID}
    for uri in parquet:
        try:
            with open_file(uri) as file:
                reader = pq.ParquetFile(file)
                names = set(reader.schema_arrow.names)
                if not ((library is not None and S.LIBRARY in names) or (uris and S.URI in names)):
                    continue
                columns = [c for c in (S.LIBRARY, *wanted.values(), S.EMBEDDING) if c in names]
                for batch in reader.iter_batches(batch_size=BATCH_ROWS, columns=columns):
                    batch = _without_views(batch)
                    rows = batch.filter(_selected(batch, library, uris))
                    for kind, column in wanted.items():
                        if column in names:
                            values[kind].update(rows[column].drop_null().to_pylist())
                    if S.EMBEDDING in names:
                        for matrix in _vector_rows(rows[S.EMBEDDING]).values():
                            vectors += list(matrix)
        except FileNotFoundError:
            continue
        except (OSError, pa.ArrowException) as exc:  # searched as raw bytes later, and reported so
            log.warning("%s does not read as Parquet (%s): its rows are not looked at", uri, exc)
    return values, vectors


def _selected(batch: pa.RecordBatch, library: str | None, uris: set[str]) -> pa.Array:
    """Which rows of ``batch`` are of ``library`` or of one of the photos ``uris``."""
    names = batch.schema.names
    chosen = pa.array(np.zeros(batch.num_rows, bool))
    if library is not None and S.LIBRARY in names and _is_text(batch[S.LIBRARY].type):
        chosen = pc.or_kleene(chosen, pc.equal(batch[S.LIBRARY], library))
    if uris and S.URI in names and _is_text(batch[S.URI].type):
        in_uris = pc.is_in(batch[S.URI], value_set=pa.array(sorted(uris), batch[S.URI].type))
        chosen = pc.or_kleene(chosen, in_uris)
    return pc.fill_null(chosen, False)


def _without_views(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with its columns of string views as large strings: compute functions (filter, is_in) take no
    views, and deltalake writes them when it rewrites a file."""
    fields = [f.with_type(pa.large_string()) if pa.types.is_string_view(f.type) else f for f in batch.schema]
    return batch.cast(pa.schema(fields))


def _is_text(kind: pa.DataType) -> bool:
    """Strings, in any of Arrow's layouts (deltalake writes string views too)."""
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)


def _kinds(tables: str, paths: list[str], storage: store.StorageConfig) -> dict[str, str]:
    """What each file (path below ``tables``) is; a Delta table's data files are told apart by whether the
    table's current version refers to them."""
    referenced: dict[str, set[str] | None] = {}
    for path in paths:
        parts = path.split("/")
        if DELTA_LOG in parts:
            table = "/".join(parts[: parts.index(DELTA_LOG)])
            if table not in referenced:
                referenced[table] = referenced_files(store.join(tables, table) if table else tables, storage)
    return {path: _kind(path, referenced) for path in paths}


def _kind(path: str, referenced: dict[str, set[str] | None]) -> str:
    parts = path.split("/")
    extension = os.path.splitext(path)[1].lower()
    if DELTA_LOG in parts:
        return CHECKPOINT if extension == ".parquet" else DELTA_COMMIT
    kind = _EXTENSIONS.get(extension, OTHER)
    if kind != PARQUET:
        return kind
    for table, files in referenced.items():
        if not table or path.startswith(table + "/"):
            return DELTA_DATA if files is not None and path.removeprefix(table + "/") in files else UNREFERENCED
    return PARQUET


def _scan(
    listed: store.ListedFile, kind: str, sought: _Sought, open_file: Callable[[str], BinaryIO]
) -> tuple[_Found, bool]:
    """What the file holds (its name searched too), and whether it was searched as raw bytes because it did not
    read as its ``kind``. FileNotFoundError when it is gone."""
    found = _Found()
    found.strings |= sought.strings.in_text(listed.path)
    try:
        with open_file(listed.uri) as file:
            _SCANNERS.get(kind, _scan_raw)(file, sought, found)
        return found, False
    except FileNotFoundError:
        raise
    except _READ_FAILURES as exc:  # not what its name says: its bytes are searched instead, and it is reported
        log.warning("%s does not read as a %s (%s): searched as raw bytes", listed.path, kind, exc)
    with open_file(listed.uri) as file:
        _scan_raw(file, sought, found)
    return found, True


def _scan_parquet(file: BinaryIO, sought: _Sought, found: _Found) -> None:
    """Every string and every float vector of every column (nested ones included), batch by batch; the rows
    whose ``library`` is the one sought."""
    reader = pq.ParquetFile(file)
    for batch in reader.iter_batches(batch_size=BATCH_ROWS):
        batch = _without_views(batch)
        if sought.library is not None and S.LIBRARY in batch.schema.names and _is_text(batch[S.LIBRARY].type):
            found.library_rows += pc.sum(pc.equal(batch[S.LIBRARY], sought.library)).as_py() or 0
        for column in batch.columns:
            for leaf in _leaves(column):
                if _is_text(leaf.type):
                    found.strings |= sought.strings.in_strings(leaf)
                elif sought.vectors:
                    for matrix in _vector_rows(leaf).values():
                        found.vectors |= sought.vectors.in_rows(matrix)


def _leaves(array: pa.Array) -> Iterator[pa.Array]:
    """The string arrays and the lists of floats inside ``array``: itself, its struct fields, its list and map
    values, recursively."""
    kind = array.type
    if _is_text(kind):
        yield array.cast(pa.large_string())  # string views inside structs and lists too
    elif pa.types.is_struct(kind):
        for child in array.flatten():
            yield from _leaves(child)
    elif pa.types.is_dictionary(kind):
        yield from _leaves(array.dictionary)
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        if pa.types.is_floating(kind.value_type):
            yield array
        else:
            yield from _leaves(array.flatten())
    elif pa.types.is_map(kind):
        yield from _leaves(array.keys)
        yield from _leaves(array.items)


def _vector_rows(lists: pa.Array) -> dict[int, np.ndarray]:
    """The non-null rows of a list-of-floats array as float32 matrices, one for each length of row."""
    lists = lists.drop_null()
    lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
    found = {}
    for width in np.unique(lengths):
        if width:
            rows = lists.filter(pa.array(lengths == width)).flatten()
            found[int(width)] = rows.to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, int(width))
    return found


def _scan_faiss(file: BinaryIO, sought: _Sought, found: _Found) -> None:
    """The vectors of a FAISS index, read back with FAISS (which needs the whole file in memory)."""
    if sought.vectors:
        found.vectors |= sought.vectors.in_faiss(file.read())


def _scan_numpy(file: BinaryIO, sought: _Sought, found: _Found) -> None:
    """A NumPy array's strings, or its floats (any shape, any float type) as consecutive float32 values."""
    array = np.load(file, allow_pickle=False)
    if array.dtype.kind in "US":
        found.strings |= sought.strings.in_text("\0".join(array.ravel().astype(str).tolist()))
    elif np.issubdtype(array.dtype, np.floating) and sought.vectors:
        floats = np.ascontiguousarray(array, np.float32).reshape(-1)
        step, keep = CHUNK_BYTES // 4, max(sought.vectors.dims) - 1
        for start in range(0, max(1, len(floats) - keep), step):
            found.vectors |= sought.vectors.in_floats(floats[start : start + step + keep].tobytes())


def _chunks(file: BinaryIO, overlap: int) -> Iterator[bytes]:
    """The file's bytes CHUNK_BYTES at a time, each chunk beginning with the last ``overlap`` bytes of the one
    before."""
    tail = b""
    while block := file.read(CHUNK_BYTES):
        data = tail + block
        yield data
        tail = data[len(data) - overlap :] if overlap else b""


def _scan_text(file: BinaryIO, sought: _Sought, found: _Found) -> None:
    """The strings sought, in the file's bytes (JSON, HTML, a Delta log, a JPEG's metadata)."""
    for data in _chunks(file, sought.strings.longest):
        found.strings |= sought.strings.in_bytes(data)


def _scan_raw(file: BinaryIO, sought: _Sought, found: _Found) -> None:
    """The strings sought, and the vectors sought as consecutive float32 values, in the file's bytes."""
    for data in _chunks(file, sought.overlap):
        found.strings |= sought.strings.in_bytes(data)
        if sought.vectors:
            found.vectors |= sought.vectors.in_floats(data)


_SCANNERS = {
    DELTA_DATA: _scan_parquet,
    UNREFERENCED: _scan_parquet,
    CHECKPOINT: _scan_parquet,
    PARQUET: _scan_parquet,
    FAISS_INDEX: _scan_faiss,
    NUMPY: _scan_numpy,
    DELTA_COMMIT: _scan_text,
    JSON_FILE: _scan_text,
    HTML_PAGE: _scan_text,
    JPEG: _scan_text,
}
