"""The embed job (``pipeline.embed``): list SRC, plan against the library, run the photo chain (in this
process or on Ray), commit the tables, summarise."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import schema as S
from pipeline.config import Config, config_as_dict, load_config
from pipeline.ingest.analyze import use_opencv_threads
from pipeline.ingest.chain import PhotoChain
from pipeline.ingest.incremental import plan_run
from pipeline.ingest.libraries import assign_libraries
from pipeline.ingest.timing import timed, total_seconds
from pipeline.io import store
from pipeline.io.library_run import python_call, run_job
from pipeline.io.library_settings import faces_off
from pipeline.io.runs import RunRecorder
from pipeline.io.tables import FaceTables, TablesSnapshot
from pipeline.io.tombstones import Tombstones
from pipeline.models.registry import ModelChoices, resolve_models
from pipeline.progress import Progress
from pipeline.results import JobResult
from pipeline.runtime.in_process import ModelThreads, stream_in_process
from pipeline.runtime.pool import size_model_pool
from pipeline.runtime.ray_cluster import attached, cluster_device, cluster_resources, connect
from pipeline.runtime.ray_data import stream_on_ray

log = logging.getLogger(__name__)

RUNNERS = {"ray": "on Ray", "in_process": "in process"}  # where a run's chain ran, as its summary says it


def _no_photos_yet() -> dict[str, int]:
    return {S.STATUS_OK: 0, S.STATUS_NO_FACE: 0, S.STATUS_ERROR: 0, S.STATUS_FACES_OFF: 0}


def _no_seconds_yet() -> dict[str, float]:
    return dict.fromkeys(("list", *S.STAGES, "write"), 0.0)


@dataclass(frozen=True)
class EmbedResult(JobResult):
    """What one embed run did; every listed photo is new, changed, retried, unchanged or forgotten (`facepipe
    forget`: skipped until its owner lifts that)."""

    run_id: str
    libraries: list[str] = field(default_factory=list)  # the libraries reconciled with SRC
    listed: int = 0
    new: int = 0
    changed: int = 0
    retried: int = 0
    unchanged: int = 0
    forgotten: int = 0  # listed photos skipped because they were forgotten
    removed: int = 0
    fingerprinted: int = 0  # unchanged photos given the dedup fingerprints an earlier version did not compute
    processed: int = 0
    missing: int = 0
    status: dict[str, int] = field(default_factory=_no_photos_yet)
    faces: int = 0
    forgotten_faces: int = 0  # faces found again in a forgotten face's place: not written
    repaired_faces: int = 0
    models: dict = field(default_factory=dict)  # ids, engines and device (ModelChoices.describe)
    runner: str = ""  # where the chain ran: "ray" or "in_process" (a run below ray.in_process_below)
    seconds: float = 0.0
    first_commit_seconds: float | None = None  # from the start of the run to its first committed batch
    stage_seconds: dict[str, float] = field(default_factory=_no_seconds_yet)

    @property
    def photos_per_s(self) -> float:
        return self.processed / self.seconds if self.seconds else 0.0

    @property
    def exit_code(self) -> int:
        """1 when photos went missing (the next run picks them up), else 0."""
        return 1 if self.missing else 0

    def as_dict(self) -> dict:
        return {**super().as_dict(), "photos_per_s": round(self.photos_per_s, 2)}

    def counts(self) -> dict:
        return {**self.as_dict(), **self.status}  # the photos by status, as plain figures

    def render(self) -> str:
        """The one-screen summary of the run, for a person."""
        return "\n".join(
            [
                f"facepipe embed run {self.run_id}: {_named(self.libraries, 'library', 'libraries')}",
                f"  photos listed {self.listed}: new {self.new}, changed {self.changed}, retried {self.retried}, "
                f"unchanged {self.unchanged}, forgotten {self.forgotten}; removed {self.removed}; "
                f"fingerprints added to {self.fingerprinted}",
                f"  processed {self.processed}: ok {self.status[S.STATUS_OK]}, "
                f"no_face {self.status[S.STATUS_NO_FACE]}, error {self.status[S.STATUS_ERROR]}, "
                f"faces_off {self.status[S.STATUS_FACES_OFF]}; missing {self.missing}",
                f"  faces {self.faces}; forgotten, not written {self.forgotten_faces}",
                f"  {self.seconds:.1f} s, {self.photos_per_s:.1f} photos/s ({RUNNERS.get(self.runner, self.runner)}); "
                "busy seconds per stage: "
                + ", ".join(f"{stage} {seconds:.1f}" for stage, seconds in self.stage_seconds.items()),
            ]
        )


def _named(names: list[str], one: str, many: str, shown: int = 5) -> str:
    """'library x' or '12 libraries: a, b, c, d, e, ...'."""
    if len(names) == 1:
        return f"{one} {names[0]}"
    more = ", ..." if len(names) > shown else ""
    return f"{len(names)} {many}: {', '.join(names[:shown])}{more}"


def face_ids(uris: list[str], image_ids: list[str], indexes: list[int]) -> list[str]:
    """Stable face ids: a hash of the photo's uri, its content id and the face's rank in it."""
    return [hashlib.sha256(f"{u}\0{i}\0{n}".encode()).hexdigest()[:32] for u, i, n in zip(uris, image_ids, indexes)]


def split_rows(
    analyzed: pa.Table, listing: pa.Table, run_id: str, model: str, detector: str
) -> tuple[pa.Table, pa.Table]:
    """Outcome rows (analyzed_schema) plus their listing rows -> (images rows, faces rows)."""
    meta = listing.take(pc.index_in(analyzed[S.URI], value_set=listing[S.URI]))
    faces_col = analyzed[S.FACES].combine_chunks()
    counts = pc.list_value_length(faces_col).fill_null(0).to_numpy().astype(np.int32)
    now = dt.datetime.now(dt.timezone.utc)
    fingerprints = analyzed[S.FINGERPRINTS_COLUMN].combine_chunks().flatten()  # a null struct: every field null
    images = pa.table(
        {
            S.IMAGE_ID: analyzed[S.IMAGE_ID],
            S.URI: analyzed[S.URI],
            S.LIBRARY: meta[S.LIBRARY],
            S.STATUS: analyzed[S.STATUS],
            S.ERROR: analyzed[S.ERROR],
            S.NUM_FACES: pa.array(counts, pa.int32()),
            S.WIDTH: analyzed[S.WIDTH],
            S.HEIGHT: analyzed[S.HEIGHT],
            S.SIZE: meta[S.SIZE],
            S.MTIME: meta[S.MTIME],
            S.ETAG: meta[S.ETAG],
            S.RUN_ID: pa.array([run_id] * analyzed.num_rows, pa.string()),
            S.PROCESSED_AT: pa.array([now] * analyzed.num_rows, S.TIMESTAMP),
            **dict(zip(S.FINGERPRINTS, fingerprints)),
        },
        schema=S.IMAGES_SCHEMA,
    )
    parents = np.repeat(np.arange(analyzed.num_rows), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    indexes = (np.arange(len(parents)) - starts).astype(np.int32)
    flat = pc.list_flatten(faces_col)
    uris = analyzed[S.URI].take(parents)
    image_ids = analyzed[S.IMAGE_ID].take(parents)
    faces = pa.table(
        {
            S.FACE_ID: pa.array(face_ids(uris.to_pylist(), image_ids.to_pylist(), indexes.tolist()), pa.string()),
            S.IMAGE_ID: image_ids,
            S.URI: uris,
            S.LIBRARY: meta[S.LIBRARY].take(parents),
            S.FACE_INDEX: pa.array(indexes, pa.int32()),
            S.BBOX: flat.field(S.BBOX),
            S.LANDMARKS: flat.field(S.LANDMARKS),
            S.DET_SCORE: flat.field(S.DET_SCORE),
            S.EMBEDDING: flat.field(S.EMBEDDING),
            S.MODEL: pa.array([model] * len(parents), pa.string()),
            S.DETECTOR: pa.array([detector] * len(parents), pa.string()),
            S.RUN_ID: pa.array([run_id] * len(parents), pa.string()),
        }
    )
    return images, faces


def _blocks(uris: list[str], config: Config) -> list[pa.Table]:
    step = config.ray.read_batch_size
    return [pa.table({S.URI: pa.array(uris[i : i + step], pa.string())}) for i in range(0, len(uris), step)]


def local_models(chain: PhotoChain, model_actors: int | None, on_gpu: bool) -> ModelThreads:
    """The model stage of ``chain`` for a run in this process, its instances loading from now on: like
    the actor pool, one single-threaded instance per core (3,000 LFW photos on two cores: 61.2
    photos/s, against 53.4 for one instance on two threads) or one per GPU; ``model_actors``
    (ray.model_actors) sets how many."""
    cores = os.cpu_count() or 1
    workers = model_actors or (1 if on_gpu else cores)
    threads = 1 if workers > 1 else cores
    use_opencv_threads(threads)  # here, before any thread runs OpenCV
    return ModelThreads(chain.analysing(threads), workers)


def analyze_photos(
    uris: list[str], config: Config, models: ModelChoices, in_process: bool = False
) -> Iterator[pa.Table]:
    """The chain over ``uris`` on the Ray cluster, sized from its resources (or in this process, with
    every core); outcome rows (analyzed_schema) as they come."""
    if not uris:
        return
    on_gpu = models.embedder.device == "cuda"
    chain = PhotoChain.of(config, models, fingerprints=True)
    cpu_stages = chain.decoding(config.decode.device_min_pixels if on_gpu else None)
    if in_process:
        with local_models(chain, config.ray.model_actors, on_gpu) as local:
            yield from stream_in_process(_blocks(uris, config), cpu_stages, local)
        return
    cpus, gpus = cluster_resources()
    pool = size_model_pool(cpus, gpus, on_gpu, model_actors=config.ray.model_actors, actor_cpus=config.ray.actor_cpus)
    log.info("model pool: %s", pool)
    yield from stream_on_ray(_blocks(uris, config), cpu_stages, chain.analysing(pool.threads), pool)


def _recounted(images: pa.Table, faces: pa.Table) -> pa.Table:
    """``images`` rows whose num_faces counts their rows among ``faces`` (after forgotten faces were left out)."""
    counted = faces.group_by(S.URI).aggregate([(S.FACE_ID, "count")])
    of = dict(zip(counted[S.URI].to_pylist(), counted[f"{S.FACE_ID}_count"].to_pylist()))
    counts = pa.array([of.get(uri, 0) for uri in images[S.URI].to_pylist()], pa.int32())
    return images.set_column(images.schema.get_field_index(S.NUM_FACES), S.NUM_FACES, counts)


def _outcomes(
    todo: pa.Table, faces_off: set[str], config: Config, models: ModelChoices, in_process: bool
) -> Iterator[pa.Table]:
    """Outcome rows (analyzed_schema) of the photos ``todo`` (listing rows): faces computed, except for the photos
    of the libraries in ``faces_off``, which are only fingerprinted."""
    off = pc.is_in(todo[S.LIBRARY], value_set=pa.array(sorted(faces_off), pa.string()))
    yield from analyze_photos(todo.filter(pc.invert(off))[S.URI].to_pylist(), config, models, in_process)
    uris = todo.filter(off)[S.URI].to_pylist()
    if uris:
        stream = stream_in_process if in_process else stream_on_ray
        yield from stream(_blocks(uris, config), PhotoChain.of(config).fingerprinting(models.embedder.dim))


def add_missing_fingerprints(uris: list[str], config: Config, writer: FaceTables, in_process: bool = False) -> int:
    """Read and decode committed photos that lack the dedup fingerprints (tables of an earlier version)
    and fill them in, without detecting faces again; returns how many photos gained them."""
    if not uris:
        return 0
    log.info("adding the dedup fingerprints to %d photos committed without them", len(uris))
    stream = stream_in_process if in_process else stream_on_ray
    fingerprinted, pending = 0, []
    for batch in stream(_blocks(uris, config), PhotoChain.of(config).signing()):
        pending.append(batch.filter(pc.is_valid(batch[S.FINGERPRINTS_COLUMN])))
        if sum(t.num_rows for t in pending) >= config.output.commit_every:
            fingerprinted += _commit_fingerprints(pending, writer)
    return fingerprinted + _commit_fingerprints(pending, writer)


def _commit_fingerprints(pending: list[pa.Table], writer: FaceTables) -> int:
    if not pending:
        return 0
    rows = pa.concat_tables(pending)
    pending.clear()
    if not rows.num_rows:
        return 0
    fields = rows[S.FINGERPRINTS_COLUMN].combine_chunks().flatten()
    writer.add_fingerprints(
        pa.table({S.URI: rows[S.URI], S.IMAGE_ID: rows[S.IMAGE_ID], **dict(zip(S.FINGERPRINTS, fields))})
    )
    return rows.num_rows


def embed(
    src: str,
    tables: str,
    config: Config | None = None,
    *,
    listing: pa.Table | None = None,
    run: RunRecorder | None = None,
    library: str | None = None,
    libraries_by_folder: bool = False,
) -> EmbedResult:
    """Bring the library at ``tables`` (a folder or s3:// prefix) up to date with the photos of ``src``
    (or of an explicit ``listing``, LISTING_SCHEMA rows): new and changed photos are read, their faces
    detected, aligned and embedded; photos gone from ``src`` lose their rows. Holds the library's lease
    and records the run in its runs table (or is a step of ``run``, when given). Returns what was done;
    ``exit_code`` 1 when photos went missing (the next run picks them up).

    The photos belong to ``library`` (default: S.DEFAULT_LIBRARY), or with ``libraries_by_folder`` each to
    the library named after the folder directly below ``src`` that holds it; only those libraries are
    reconciled with ``src`` (pipeline.ingest.libraries).

    Raises ConfigError for an unreadable SRC, an unwritable library or a bad configuration; LeaseHeld
    when another run holds the library.
    """
    config = config or load_config()

    def work(run: RunRecorder) -> EmbedResult:
        result = _embed(src, tables, config, run.run_id, listing, library, libraries_by_folder)
        run.versions["models"] = result.models
        return result

    call = python_call("embed", src, tables, library=library, libraries_by_folder=libraries_by_folder)
    return run_job(tables, config, "embed", run, call, work)


def _embed(
    src: str,
    tables: str,
    config: Config,
    run_id: str,
    listing: pa.Table | None,
    library: str | None = None,
    by_folder: bool = False,
) -> EmbedResult:
    started = time.monotonic()
    storage = config.resolved_storage()
    on_cluster = attached(config.ray)
    if on_cluster:
        connect(config.ray)
    # resolved once, for the machines the models run on (a device the cluster lacks fails here, before any work);
    # without a cluster to join that is this machine, whether the run starts a local Ray or not
    models = resolve_models(config.models, cluster_device(config.models.device) if on_cluster else None)
    stage_seconds = _no_seconds_yet()
    with timed(stage_seconds, "list"):
        if listing is None:
            listing = store.list_photos(src, storage, config.input.extensions)
    store.ensure_writable(tables, storage)
    writer = FaceTables(
        tables,
        storage,
        models.embedder.dim,
        models.embedder.model_id,
        models.detector.model_id,
        config.output.library_buckets,
    )
    repaired = writer.repair()
    committed = writer.committed_images()
    listing, libraries = assign_libraries(listing, committed, src, storage, library, by_folder)
    tombstones = Tombstones(tables, storage)
    listed, (listing, forgotten) = listing.num_rows, tombstones.kept(listing)
    off = faces_off(TablesSnapshot(tables, storage))
    plan = plan_run(listing, committed, config.decode.fingerprints, config.decode.keypoints, libraries, off)
    log.info(
        "run %s: %d listed, %d to process, %d removed", run_id, listing.num_rows, plan.todo.num_rows, len(plan.removed)
    )
    # a small run on one machine pays more for starting Ray (processes, workers' imports, a model load
    # per actor) than Ray's processes win it: it runs here
    in_process = not on_cluster and plan.todo.num_rows + len(plan.unfingerprinted) < config.ray.in_process_below
    if not in_process and (plan.todo.num_rows or plan.unfingerprinted):
        connect(config.ray)
    replaced, seen, pending = set(plan.replaced), set(), []
    status = _no_photos_yet()
    done = {"processed": 0, "faces": 0, "forgotten_faces": 0, "first_commit_seconds": None}

    def commit() -> None:
        batch = pa.concat_tables(pending)
        pending.clear()
        images, faces = split_rows(batch, plan.todo, run_id, models.embedder.model_id, models.detector.model_id)
        faces, skipped_faces = tombstones.kept_faces(faces)
        if skipped_faces:
            images = _recounted(images, faces)
        done["forgotten_faces"] += skipped_faces
        with timed(stage_seconds, "write"):
            writer.commit(images, faces, [u for u in images[S.URI].to_pylist() if u in replaced])
        for stage, seconds in total_seconds(batch[S.SECONDS]).items():
            stage_seconds[stage] += seconds
        for value, count in zip(*np.unique(images[S.STATUS].to_numpy(zero_copy_only=False), return_counts=True)):
            status[str(value)] += int(count)
        done["processed"] += images.num_rows
        done["faces"] += faces.num_rows
        if done["first_commit_seconds"] is None:
            done["first_commit_seconds"] = round(time.monotonic() - started, 2)
        log.info("committed %d photos (%d/%d)", images.num_rows, done["processed"], plan.todo.num_rows)

    with Progress("embed", plan.todo.num_rows, "photo") as progress:
        for batch in _outcomes(plan.todo, off, config, models, in_process):
            fresh = [i for i, uri in enumerate(batch[S.URI].to_pylist()) if uri not in seen]
            seen.update(batch[S.URI].to_pylist())
            pending.append(batch.take(fresh))
            progress.advance(len(fresh))
            if sum(t.num_rows for t in pending) >= config.output.commit_every:
                commit()
        if pending:
            commit()
    fingerprinted = add_missing_fingerprints(plan.unfingerprinted, config, writer, in_process)
    with timed(stage_seconds, "write"):
        writer.remove(plan.removed)
        writer.compact()
    result = EmbedResult(
        run_id=run_id,
        libraries=sorted(libraries),
        listed=listed,
        forgotten=forgotten,
        new=len(plan.new),
        changed=len(plan.changed),
        retried=len(plan.retried),
        unchanged=plan.unchanged,
        removed=len(plan.removed),
        fingerprinted=fingerprinted,
        missing=plan.todo.num_rows - done["processed"],
        status=status,
        repaired_faces=repaired,
        models=models.describe(),
        runner="in_process" if in_process else "ray",
        seconds=time.monotonic() - started,
        stage_seconds=stage_seconds,
        **done,
    )
    record = {
        "run_id": run_id,
        "src": src,
        "dst": tables,
        "config": config_as_dict(config),
        "models": models.ids(),
        "summary": result.as_dict(),
    }
    writer.write_metadata(f"runs/{run_id}.json", record)
    writer.write_metadata("latest.json", record)
    return result
