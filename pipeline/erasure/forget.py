"""`facepipe forget`: erase a library, some photos or a named person of a library everywhere facepipe wrote them
at DST, and keep them forgotten.

One run, holding the store's lease, in steps that a rerun after a crash completes (each finds what is left):
erase (tombstones first, then the photos' or faces' rows, their tags and the library's circle memberships),
the results made from them computed again for the scopes whose inputs changed (people, duplicates, suggested
names: no group of one, no suggestion whose evidence is gone), every FAISS index below DST rebuilt, kept kNN
graphs of gone scopes and every report or review page that showed erased data deleted, then the tables'
history expired at once (their old files and log entries). The runs row records the request and counts, never
what was erased: no uri, no name."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from pipeline import schema as S
from pipeline.config import Config, StorageConfig, load_config
from pipeline.dedup.dedup_job import deduplicate
from pipeline.errors import ConfigError
from pipeline.io import store
from pipeline.io.circles import leave_circles, read_circles, scopes
from pipeline.io.fence import fenced_commit
from pipeline.io.history import expire_history
from pipeline.io.library_run import library_run
from pipeline.io.runs import RunRecorder
from pipeline.io.tables import FaceTables, TablesSnapshot
from pipeline.io.tags_table import POSITIVE, read_tags, remove_tag_rows
from pipeline.io.tombstones import Tombstones
from pipeline.people.cluster_job import cluster
from pipeline.results import JobResult
from pipeline.search.face_index import index
from pipeline.search.vector_index import META_FILE
from pipeline.tags.face_graph import remove_graphs_except
from pipeline.tags.suggest_job import suggest_tags

log = logging.getLogger(__name__)


class ErasureResult(JobResult):
    """A result that carries its run's steps (``steps``): exit code 1 when one of them failed, or failed for some
    of its scopes (whose rows may still hold what was erased: run it again)."""

    @property
    def exit_code(self) -> int:
        failed = any(step["status"] == S.STEP_FAILED or step.get("scopes_failed") for step in self.steps)
        return 1 if failed else 0


@dataclass(frozen=True)
class ForgetResult(ErasureResult):
    """What a forget did: the request (what kind, the library, how many uris; never a uri or a name), the
    photos, faces and tag rows erased, the circles the library left, the tombstones added, and its steps."""

    run_id: str
    request: dict
    photos: int
    faces: int
    tag_rows: int
    circles_left: int
    tombstones: int
    steps: list
    seconds: float


@dataclass(frozen=True)
class Targets:
    """What one erasure erases, as found in the tables now."""

    photos: pa.Table  # uri, library: photos erased whole
    faces: pa.Table  # face_id, uri, library, bbox: every face erased (those of the photos, or the person's)
    tag_rows: list[tuple[str, str]]  # (face_id, name)
    whole_photos: bool  # photos erased (else faces of photos that stay)
    bury: bool = True  # keep them forgotten (tombstones); an opted-out library's setting keeps its faces out instead
    leaving: str | None = None  # a library forgotten whole: it leaves its circles
    faces_off: str | None = None  # a library opted out of faces: its photos stay, marked as having none computed


def _request(library: str | None, uris: list[str] | None, name: str | None) -> dict:
    """The request as the runs row records it; ConfigError unless it is one of the three forms."""
    forms = {(True, False, False), (False, True, False), (True, False, True)}
    if (library is not None, uris is not None, name is not None) not in forms:
        raise ConfigError("forget takes --library L, --uri URI ... (or --uris FILE), or --library L --name NAME")
    if uris is not None and not uris or name is not None and not name.strip():
        raise ConfigError("forget: no photo or no name given")
    if library is not None:
        S.checked_id(library)
    kind = "name" if name is not None else "uris" if uris is not None else "library"
    # a name is personal data: its hash only says which request this was
    named = {"name_sha256": hashlib.sha256(name.strip().encode()).hexdigest()} if name is not None else {}
    return {"kind": kind, "library": library, "uris": len(uris or []), **named}


def forget(
    tables: str,
    config: Config | None = None,
    *,
    library: str | None = None,
    uris: list[str] | None = None,
    name: str | None = None,
) -> ForgetResult:
    """Forget, at the store ``tables``: every photo of ``library`` (its tags and circle memberships too), or the
    photos ``uris``, or (``library`` and ``name``) every face of the library tagged, accepted or suggested as
    ``name`` with the library's tags and suggestions of that name. Later runs skip what is forgotten (photos
    still at SRC are not embedded again; the person's faces are not written again) until `forget --lift`.
    Holds the store's lease and records the run. ConfigError for a malformed request or a store without tables."""
    config = config or load_config()
    request = _request(library, uris, name)
    started = time.perf_counter()
    command = f"facepipe forget --tables {tables} ({request['kind']}: {request['uris'] or request['library']})"
    with library_run(tables, command, config, redacted=True) as run:
        found = _forget(tables, config, run, library, uris, name)
    return ForgetResult(
        run.run_id, request, **found, steps=run.steps(), seconds=round(time.perf_counter() - started, 2)
    )


def _forget(
    tables: str, config: Config, run: RunRecorder, library: str | None, uris: list[str] | None, name: str | None
) -> dict:
    storage = config.resolved_storage()
    targets = _targets(TablesSnapshot(tables, storage), storage, tables, library, uris, name)
    return erase_everywhere(tables, config, run, targets)


def erase_everywhere(tables: str, config: Config, run: RunRecorder, targets: Targets) -> dict:
    """Erase ``targets`` at ``tables`` as steps of ``run`` (which holds the store): the pages that show them, their
    rows (tombstones first), the results made from them computed again, indexes and graphs, then the tables'
    history at once. Returns the counts of the erase step."""
    storage = config.resolved_storage()
    with run.step("pages") as pages:  # first: once the rows are gone, a rerun could not tell which pages show them
        pages.update(_remove_pages(tables, storage, targets))
    with run.step("erase") as counts:
        counts.update(_erase(tables, storage, run.run_id, targets))
    _recompute(tables, config, run)
    with run.step("history") as history:
        expired = expire_history(tables, storage, keep_hours=0)
        history["data_files"] = sum(table["data_files"] for table in expired.values())
        history["log_files"] = sum(table["log_files"] for table in expired.values())
    return {key: counts[key] for key in ("photos", "faces", "tag_rows", "circles_left", "tombstones")}


def _targets(
    snapshot: TablesSnapshot,
    storage: StorageConfig,
    tables: str,
    library: str | None,
    uris: list[str] | None,
    name: str | None,
) -> Targets:
    """What the request erases, as the tables hold it now (after a crash: what is left of it)."""
    if snapshot.version(S.IMAGES_TABLE) is None:
        raise ConfigError(f"no facepipe tables at {tables}: nothing to forget")
    wanted = [library] if library is not None else None
    photos = snapshot.read(S.IMAGES_TABLE, [S.URI, S.LIBRARY], libraries=wanted)
    faces = snapshot.read(S.FACES_TABLE, [S.FACE_ID, S.URI, S.LIBRARY, S.BBOX], libraries=wanted)
    tags = read_tags(tables, storage)
    if name is None:
        if uris is not None:
            photos = photos.filter(pc.is_in(photos[S.URI], value_set=pa.array(uris, pa.string())))
        faces = faces.filter(pc.is_in(faces[S.URI], value_set=photos[S.URI]))
        gone = pc.is_in(tags[S.FACE_ID], value_set=faces[S.FACE_ID])
        rows = tags.filter(gone)
        tag_rows = list(zip(rows[S.FACE_ID].to_pylist(), rows[S.NAME].to_pylist()))
        return Targets(photos, faces, tag_rows, True, leaving=library if uris is None else None)
    name = name.strip()
    of_library = tags.filter(pc.is_in(tags[S.FACE_ID], value_set=faces[S.FACE_ID]))
    named = of_library.filter(pc.equal(of_library[S.NAME], name))
    person = {row[S.FACE_ID] for row in named.to_pylist() if row[S.VERDICT] in POSITIVE}
    if snapshot.version(S.SUGGESTIONS_TABLE) is not None:
        suggested = snapshot.read(S.SUGGESTIONS_TABLE, [S.FACE_ID, S.LIBRARY, S.NAME]).to_pylist()
        person |= {row[S.FACE_ID] for row in suggested if row[S.LIBRARY] == library and row[S.NAME] == name}
    faces = faces.filter(pc.is_in(faces[S.FACE_ID], value_set=pa.array(sorted(person), pa.string())))
    rows = of_library.filter(
        pc.or_(pc.equal(of_library[S.NAME], name), pc.is_in(of_library[S.FACE_ID], faces[S.FACE_ID]))
    )
    tag_rows = list(zip(rows[S.FACE_ID].to_pylist(), rows[S.NAME].to_pylist()))
    return Targets(photos.slice(0, 0), faces, tag_rows, False)


def _erase(tables: str, storage: StorageConfig, run_id: str, targets: Targets) -> dict:
    """Tombstones first (a crash after them still keeps the photos out of later runs), then the rows: faces and
    photos, tags, and a library forgotten whole leaves its circles."""
    photos = list(zip(targets.photos[S.URI].to_pylist(), targets.photos[S.LIBRARY].to_pylist()))
    faces = (
        []
        if targets.whole_photos
        else list(zip(*(targets.faces[column].to_pylist() for column in (S.URI, S.LIBRARY, S.BBOX))))
    )
    buried = Tombstones(tables, storage).bury(photos, faces, run_id) if targets.bury else 0
    writer = FaceTables.existing(tables, storage)
    if targets.whole_photos:
        writer.remove([uri for uri, _ in photos])
    else:
        writer.remove_faces(targets.faces[S.FACE_ID].to_pylist())
    if targets.faces_off is not None:
        writer.mark_faces_off(targets.faces_off)
    tag_rows = remove_tag_rows(tables, storage, targets.tag_rows)
    circles_left = leave_circles(tables, targets.leaving, run_id, storage) if targets.leaving is not None else 0
    return {
        "photos": len(photos),
        "faces": targets.faces.num_rows,
        "tag_rows": tag_rows,
        "circles_left": circles_left,
        "tombstones": buried,
    }


def _recompute(tables: str, config: Config, run: RunRecorder) -> None:
    """People, duplicates and suggested names again for the scopes whose inputs the erasure changed (the others
    keep their rows), each index below DST rebuilt, and the kNN graphs of scopes that are gone deleted."""
    storage = config.resolved_storage()
    snapshot = TablesSnapshot(tables, storage)
    if not snapshot.read(S.FACES_TABLE, [S.FACE_ID]).num_rows:  # the last faces forgotten: nothing to compute
        with run.step("results") as counts:
            counts["rows_removed"] = _empty(tables, storage)
    else:
        if snapshot.version(S.CLUSTERS_TABLE) is not None:
            cluster(tables, config, changed_only=True, run=run)
        if snapshot.version(S.DUPLICATES_TABLE) is not None:
            deduplicate(tables, config, changed_only=True, run=run)
        if snapshot.version(S.SUGGESTIONS_TABLE) is not None and snapshot.version(S.TAGS_TABLE) is not None:
            suggest_tags(tables, config, changed_only=True, run=run)
    with run.step("indexes") as counts:
        counts.update(_rebuild_indexes(tables, config, run))
    with run.step("graphs") as counts:
        now = TablesSnapshot(tables, storage)
        with_faces = set(pc.unique(now.read(S.FACES_TABLE, [S.LIBRARY])[S.LIBRARY]).to_pylist())
        found = scopes(read_circles(now), with_faces)
        names = {scope.name for scope in found if with_faces.intersection(scope.libraries)}
        counts["removed"] = remove_graphs_except(tables, storage, names)


def _empty(tables: str, storage: StorageConfig) -> int:
    """Delete every row of the tables made from faces and photos (none is left to make them from); how many."""
    removed = 0
    snapshot = TablesSnapshot(tables, storage)
    for name in (S.CLUSTERS_TABLE, S.PERSONS_TABLE, S.DUPLICATES_TABLE, S.SIMILAR_TABLE, S.SUGGESTIONS_TABLE):
        if snapshot.version(name) is not None:
            table = DeltaTable(store.join(tables, name), storage_options=snapshot.options)
            with fenced_commit(table) as (table, properties):
                removed += int(table.delete(commit_properties=properties).get("num_deleted_rows", 0))
    return removed


def _rebuild_indexes(tables: str, config: Config, run: RunRecorder) -> dict:
    """Build again every FAISS index below ``tables`` (a folder holding facepipe index's meta file) from the faces
    left, of its library when it indexed one; delete an index with no face left to hold."""
    storage = config.resolved_storage()
    snapshot = TablesSnapshot(tables, storage)
    uris = [found.uri for found in store.list_files(tables, storage)]
    folders = sorted({uri.rsplit("/", 1)[0] for uri in uris if uri.endswith("/" + META_FILE)})
    rebuilt = removed = 0
    for folder in folders:
        library = json.loads(store.read_bytes(store.join(folder, META_FILE), storage))["info"].get("library")
        if snapshot.read(S.FACES_TABLE, [S.FACE_ID], libraries=None if library is None else [library]).num_rows:
            index(tables, config, output=folder, rebuild=True, library=library, run=run)
            rebuilt += 1
        else:
            for uri in (found.uri for found in store.list_files(folder, storage)):
                store.remove_file(uri, storage)
                store.remove_empty_folders(uri, folder)
            removed += 1
    return {"indexes_rebuilt": rebuilt, "indexes_removed": removed}


def _remove_pages(tables: str, storage: StorageConfig, targets: Targets) -> dict:
    """Delete every page folder below ``tables`` (a report or a review: index.html and its thumbnails) that
    shows an erased photo or face; the next report or review run writes it again without them."""
    needles = set(targets.photos[S.URI].to_pylist()) | set(targets.faces[S.FACE_ID].to_pylist())
    needles |= set(targets.faces[S.URI].to_pylist()) if targets.whole_photos else set()
    files = [found.uri for found in store.list_files(tables, storage)]
    removed = 0
    for page in (uri for uri in files if uri.endswith("/index.html")):
        folder = page.rsplit("/", 1)[0]
        text = store.read_bytes(page, storage).decode("utf-8", "replace")
        if any(needle in text for needle in needles):
            for uri in (uri for uri in files if uri.startswith(folder + "/")):
                store.remove_file(uri, storage)
                store.remove_empty_folders(uri, folder)
                removed += 1
    return {"page_files_removed": removed}


@dataclass(frozen=True)
class LiftResult(JobResult):
    """What `forget --lift` did: the tombstones removed (their photos and faces are processed again by the next
    run that lists them)."""

    run_id: str
    request: dict
    tombstones_lifted: int


def lift_forgotten(
    tables: str, config: Config | None = None, *, library: str | None = None, uris: list[str] | None = None
) -> LiftResult:
    """Add back what was forgotten at ``tables``: the tombstones of ``library``'s photos and faces, or of the photos
    ``uris``, are removed, so that the next run that lists them embeds them again. Holds the store's lease and
    records the run (the request without its uris)."""
    config = config or load_config()
    request = _request(library, uris, None)
    command = f"facepipe forget --lift --tables {tables} ({request['kind']}: {request['uris'] or request['library']})"
    with library_run(tables, command, config, redacted=True) as run, run.step("lift") as counts:
        counts["tombstones_lifted"] = Tombstones(tables, config.resolved_storage()).lift(library, uris)
    return LiftResult(run.run_id, request, counts["tombstones_lifted"])
