"""The face index of a set of tables: built from the committed faces, brought up to date
incrementally (faces of new photos added, faces of removed or changed photos dropped), searched
with the faces of a photo."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa

from pipeline import schema as S
from pipeline.config import Config, load_config
from pipeline.errors import ConfigError
from pipeline.ingest.photo_faces import FaceReader, PhotoFaces
from pipeline.io import store
from pipeline.io.library_run import python_call, run_job
from pipeline.io.runs import RunRecorder
from pipeline.io.tables import FacesSnapshot, committed_faces
from pipeline.results import JobResult
from pipeline.search.vector_index import KEY, VectorIndex

log = logging.getLogger(__name__)

ENTRY_COLUMNS = [S.FACE_ID, S.IMAGE_ID, S.URI, S.BBOX]  # kept per indexed face, for search results


@dataclass(frozen=True)
class IndexResult(JobResult):
    """What an index run did: built, updated or unchanged, and the counts and figures behind it (``index``:
    the plan, the tuned search parameters, the recall measured, ...: IDX/meta.json)."""

    action: str
    reason: str
    added: int = 0
    removed: int = 0
    seconds: float = 0.0
    index: dict = field(default_factory=dict)
    run_id: str = ""

    def as_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "action": self.action,
            "reason": self.reason,
            "added": self.added,
            "removed": self.removed,
            "seconds": round(self.seconds, 3),
            **self.index,
        }


def _entries_and_vectors(batch: pa.Table) -> tuple[pa.Table, np.ndarray]:
    vectors = S.matrix(batch[S.EMBEDDING])
    entries = batch.select(ENTRY_COLUMNS).rename_columns([KEY, *ENTRY_COLUMNS[1:]])
    return entries, vectors


def _stream(faces: FacesSnapshot, rows: int, face_ids: pa.Array | None = None):
    def passes():
        for batch in faces.batches([*ENTRY_COLUMNS, S.EMBEDDING], rows, face_ids):
            yield _entries_and_vectors(batch)

    return passes


def _build(faces: FacesSnapshot, count: int, config: Config, tables: str) -> VectorIndex:
    info = {
        "tables": tables,
        "model": faces.models.get("model"),
        "detector": faces.models.get("detector"),
        "faces_version": faces.table.version(),
        "library": faces.libraries[0] if faces.libraries else None,
    }
    return VectorIndex.build(
        _stream(faces, config.index.batch_rows),
        count,
        faces.models["embedding_dim"],
        config.index.index_settings(),
        info,
    )


def index(
    tables: str,
    config: Config | None = None,
    *,
    output: str | None = None,
    rebuild: bool = False,
    library: str | None = None,
    run: RunRecorder | None = None,
) -> IndexResult:
    """Build or update the FAISS index of the committed faces of the library at ``tables`` (of ``library``
    only in a store of several), at ``output`` (default: TABLES/index, or TABLES/index/LIBRARY); returns
    what was done. Holds the library's lease and records the run (or is a step of ``run``). ConfigError when
    the library holds no faces, or when the store holds several libraries and none is named."""
    config = config or load_config()
    output = output or store.join(tables, "index", *([library] if library is not None else []))
    call = python_call("index", tables, output=output, rebuild=rebuild, library=library)
    return run_job(
        tables,
        config,
        "index",
        run,
        call,
        lambda run: replace(_update(tables, output, config, rebuild, library), run_id=run.run_id),
    )


def _update(
    tables: str, index_uri: str, config: Config, rebuild: bool = False, library: str | None = None
) -> IndexResult:
    """Make the index at ``index_uri`` hold exactly the committed faces of the tables at ``tables`` (of
    ``library`` only, when given).

    Builds when there is no index, when ``rebuild``, when the tables' model changed, or when the
    index has outgrown its plan; otherwise adds new faces and removes gone ones in place.
    """
    started = time.perf_counter()
    storage = config.resolved_storage()
    faces = committed_faces(tables, storage, by_scope=library is not None)
    if library is not None:
        faces = faces.of([library])
    current = faces.read([S.FACE_ID])[S.FACE_ID]
    count = len(current)
    if not count:
        raise ConfigError(f"the tables at {tables} hold no faces to index")
    existing = None if rebuild else _load_or_none(index_uri, config)
    reason = "requested" if rebuild else "no index yet"
    if existing is not None and existing.info.get("model") != faces.models.get("model"):
        reason, existing = f"the faces are now of model {faces.models.get('model')}", None
    if existing is not None:
        reason = existing.outgrown(config.index.index_settings(), count)
        if reason is None:
            return _update_in_place(existing, faces, current, index_uri, config, started)
    log.info("building the index (%s)", reason)
    index = _build(faces, count, config, tables)
    index.save(index_uri, storage)
    return IndexResult("built", reason, added=count, seconds=time.perf_counter() - started, index=index.meta())


def _load_or_none(index_uri: str, config: Config) -> VectorIndex | None:
    try:
        return VectorIndex.load(index_uri, config.resolved_storage())
    except FileNotFoundError:
        return None


def _update_in_place(
    index: VectorIndex, faces: FacesSnapshot, current: pa.ChunkedArray, index_uri: str, config: Config, started: float
) -> IndexResult:
    indexed = set(index.keys())
    wanted = set(current.to_pylist())
    gone, new = indexed - wanted, wanted - indexed
    if not gone and not new:
        return IndexResult(
            "unchanged",
            "the index holds exactly the committed faces",
            seconds=time.perf_counter() - started,
            index=index.meta(),
        )
    removed = index.remove(gone)
    for entries, vectors in _stream(faces, config.index.batch_rows, pa.array(sorted(new), pa.string()))():
        index.add(entries, vectors)
    index.info["faces_version"] = faces.table.version()
    index.save(index_uri, config.resolved_storage())
    return IndexResult(
        "updated",
        f"{len(new)} new and {len(gone)} gone faces",
        added=len(new),
        removed=removed,
        seconds=time.perf_counter() - started,
        index=index.meta(),
    )


def search_faces(index: VectorIndex, photos: list[PhotoFaces], k: int) -> list[dict]:
    """Per photo: its status and, per face, its box and the k nearest indexed faces
    (face_id, uri, bbox, similarity), most similar first."""
    results = []
    for photo in photos:
        found = []
        if photo.faces:
            similarities, positions = index.search(np.stack([f.embedding for f in photo.faces]), k)
            for face, sims, rows in zip(photo.faces, similarities, positions):
                hits = index.entries.take(pa.array(rows[rows >= 0])).to_pylist()
                found.append(
                    {
                        "bbox": [round(float(v), 1) for v in face.bbox],
                        "neighbours": [
                            {
                                "face_id": hit[KEY],
                                "uri": hit[S.URI],
                                "bbox": [round(v, 1) for v in hit[S.BBOX]],
                                "similarity": round(float(sim), 4),
                            }
                            for hit, sim in zip(hits, sims[rows >= 0])
                        ],
                    }
                )
        results.append({"uri": photo.uri, "status": photo.status, "error": photo.error, "faces": found})
    return results


def search_photos(
    index_uri: str, photos: list[str], config: Config, k: int | None = None, reader: FaceReader | None = None
) -> list[dict]:
    """Detect the faces of ``photos`` and find each one's k nearest faces in the index at ``index_uri``
    (k defaults to config.index.k). ConfigError when the index is missing or of another model."""
    index = _load_or_none(index_uri, config)
    if index is None:
        raise ConfigError(f"no index at {index_uri}: run `facepipe index --tables DST --output {index_uri}` first")
    reader = reader or FaceReader(config)
    if index.info.get("model") != reader.model_id:
        raise ConfigError(
            f"the index at {index_uri} holds faces of model {index.info.get('model')}, "
            f"the configured embedder is {reader.model_id}"
        )
    return search_faces(index, reader(photos), k or config.index.k)
