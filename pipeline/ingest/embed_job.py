"""The embed job: list SRC, plan against DST, run the photo chain on Ray, commit the tables, summarise."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import schema as S
from pipeline.config import Config, config_as_dict
from pipeline.ingest.analyze import use_opencv_threads
from pipeline.ingest.chain import PhotoChain
from pipeline.ingest.incremental import plan_run
from pipeline.ingest.timing import timed, total_seconds
from pipeline.io import store
from pipeline.io.tables import FaceTables
from pipeline.models.registry import ModelChoices, resolve_models
from pipeline.runtime.in_process import ModelThreads, stream_in_process
from pipeline.runtime.pool import size_model_pool
from pipeline.runtime.ray_cluster import attached, cluster_device, cluster_resources, connect
from pipeline.runtime.ray_data import stream_on_ray

log = logging.getLogger(__name__)

RUNNERS = {"ray": "on Ray", "in_process": "in process"}  # where a run's chain ran, as its summary says it


@dataclass
class EmbedSummary:
    """Counts of one embed run; every listed photo is new, changed, retried or unchanged."""

    run_id: str
    listed: int = 0
    new: int = 0
    changed: int = 0
    retried: int = 0
    unchanged: int = 0
    removed: int = 0
    signed: int = 0  # unchanged photos given the dedup signals an earlier version did not compute
    processed: int = 0
    missing: int = 0
    status: dict[str, int] = field(default_factory=lambda: {S.STATUS_OK: 0, S.STATUS_NO_FACE: 0, S.STATUS_ERROR: 0})
    faces: int = 0
    repaired_faces: int = 0
    models: dict = field(default_factory=dict)  # ids, engines and device (ModelChoices.describe)
    runner: str = ""  # where the chain ran: "ray" or "in_process" (a run below ray.in_process_below)
    seconds: float = 0.0
    first_commit_seconds: float | None = None  # from the start of the run to its first committed batch
    stage_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(("list", *S.STAGES, "write"), 0.0))

    @property
    def photos_per_s(self) -> float:
        return self.processed / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "photos_per_s": round(self.photos_per_s, 2)}

    def render(self) -> str:
        """The one-screen summary printed at the end of a run."""
        return "\n".join(
            [
                f"facepipe embed run {self.run_id}",
                f"  photos listed {self.listed}: new {self.new}, changed {self.changed}, retried {self.retried}, "
                f"unchanged {self.unchanged}; removed {self.removed}; signals added to {self.signed}",
                f"  processed {self.processed}: ok {self.status[S.STATUS_OK]}, "
                f"no_face {self.status[S.STATUS_NO_FACE]}, error {self.status[S.STATUS_ERROR]}; missing {self.missing}",
                f"  faces {self.faces}",
                f"  {self.seconds:.1f} s, {self.photos_per_s:.1f} photos/s ({RUNNERS.get(self.runner, self.runner)}); "
                "busy seconds per stage: "
                + ", ".join(f"{stage} {seconds:.1f}" for stage, seconds in self.stage_seconds.items()),
            ]
        )


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
    signals = analyzed[S.SIGNALS_COLUMN].combine_chunks().flatten()  # a null struct: every field null
    images = pa.table(
        {
            S.IMAGE_ID: analyzed[S.IMAGE_ID],
            S.URI: analyzed[S.URI],
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
            **dict(zip(S.SIGNALS, signals)),
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
    chain = PhotoChain.of(config, models, signals=True)
    cpu_stages = chain.decoding(config.decode.device_min_pixels if on_gpu else None)
    if in_process:
        with local_models(chain, config.ray.model_actors, on_gpu) as local:
            yield from stream_in_process(_blocks(uris, config), cpu_stages, local)
        return
    cpus, gpus = cluster_resources()
    pool = size_model_pool(cpus, gpus, on_gpu, model_actors=config.ray.model_actors, actor_cpus=config.ray.actor_cpus)
    log.info("model pool: %s", pool)
    yield from stream_on_ray(_blocks(uris, config), cpu_stages, chain.analysing(pool.threads), pool)


def add_missing_signals(uris: list[str], config: Config, tables: FaceTables, in_process: bool = False) -> int:
    """Read and decode committed photos that lack the dedup signals (tables of an earlier version)
    and fill them in, without detecting faces again; returns how many photos gained them."""
    if not uris:
        return 0
    log.info("adding the dedup signals to %d photos committed without them", len(uris))
    stream = stream_in_process if in_process else stream_on_ray
    signed, pending = 0, []
    for batch in stream(_blocks(uris, config), PhotoChain.of(config).signing()):
        pending.append(batch.filter(pc.is_valid(batch[S.SIGNALS_COLUMN])))
        if sum(t.num_rows for t in pending) >= config.output.commit_every:
            signed += _commit_signals(pending, tables)
    return signed + _commit_signals(pending, tables)


def _commit_signals(pending: list[pa.Table], tables: FaceTables) -> int:
    if not pending:
        return 0
    rows = pa.concat_tables(pending)
    pending.clear()
    if not rows.num_rows:
        return 0
    fields = rows[S.SIGNALS_COLUMN].combine_chunks().flatten()
    tables.add_signals(pa.table({S.URI: rows[S.URI], S.IMAGE_ID: rows[S.IMAGE_ID], **dict(zip(S.SIGNALS, fields))}))
    return rows.num_rows


def run_embed(src: str, dst: str, config: Config, listing: pa.Table | None = None) -> EmbedSummary:
    """Bring the tables at ``dst`` up to date with the photos of ``src`` (or of an explicit ``listing``).

    Raises ConfigError for an unreadable SRC, an unwritable DST or a bad configuration.
    """
    started = time.monotonic()
    run_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]
    storage = config.resolved_storage()
    on_cluster = attached(config.ray)
    if on_cluster:
        connect(config.ray)
    # resolved once, for the machines the models run on (a device the cluster lacks fails here, before any work);
    # without a cluster to join that is this machine, whether the run starts a local Ray or not
    models = resolve_models(config.models, cluster_device(config.models.device) if on_cluster else None)
    spent: dict[str, float] = {}
    with timed(spent, "list"):
        if listing is None:
            listing = store.list_photos(src, storage, config.input.extensions)
    store.ensure_writable(dst, storage)
    tables = FaceTables(dst, storage, models.embedder.dim, models.embedder.model_id, models.detector.model_id)
    summary = EmbedSummary(run_id=run_id, repaired_faces=tables.repair(), models=models.describe())
    summary.stage_seconds["list"] = spent["list"]
    plan = plan_run(listing, tables.committed_images(), config.decode.signals)
    summary.listed, summary.unchanged, summary.removed = listing.num_rows, plan.unchanged, len(plan.removed)
    summary.new, summary.changed, summary.retried = len(plan.new), len(plan.changed), len(plan.retried)
    log.info(
        "run %s: %d listed, %d to process, %d removed",
        run_id,
        listing.num_rows,
        plan.todo.num_rows,
        len(plan.removed),
    )
    # a small run on one machine pays more for starting Ray (processes, workers' imports, a model load
    # per actor) than Ray's processes win it: it runs here
    in_process = not on_cluster and plan.todo.num_rows + len(plan.unsigned) < config.ray.in_process_below
    summary.runner = "in_process" if in_process else "ray"
    if not in_process and (plan.todo.num_rows or plan.unsigned):
        connect(config.ray)
    replaced, seen, pending = set(plan.replaced), set(), []

    def commit() -> None:
        batch = pa.concat_tables(pending)
        pending.clear()
        images, faces = split_rows(batch, plan.todo, run_id, models.embedder.model_id, models.detector.model_id)
        with timed(summary.stage_seconds, "write"):
            tables.commit(images, faces, [u for u in images[S.URI].to_pylist() if u in replaced])
        for stage, seconds in total_seconds(batch[S.SECONDS]).items():
            summary.stage_seconds[stage] += seconds
        for status, count in zip(*np.unique(images[S.STATUS].to_numpy(zero_copy_only=False), return_counts=True)):
            summary.status[str(status)] += int(count)
        summary.processed += images.num_rows
        summary.faces += faces.num_rows
        if summary.first_commit_seconds is None:
            summary.first_commit_seconds = round(time.monotonic() - started, 2)
        log.info("committed %d photos (%d/%d)", images.num_rows, summary.processed, plan.todo.num_rows)

    for batch in analyze_photos(plan.todo[S.URI].to_pylist(), config, models, in_process):
        fresh = [i for i, uri in enumerate(batch[S.URI].to_pylist()) if uri not in seen]
        seen.update(batch[S.URI].to_pylist())
        pending.append(batch.take(fresh))
        if sum(t.num_rows for t in pending) >= config.output.commit_every:
            commit()
    if pending:
        commit()
    summary.signed = add_missing_signals(plan.unsigned, config, tables, in_process)
    with timed(summary.stage_seconds, "write"):
        tables.remove(plan.removed)
        tables.compact()
    summary.missing = plan.todo.num_rows - summary.processed
    summary.seconds = time.monotonic() - started
    record = {
        "run_id": run_id,
        "src": src,
        "dst": dst,
        "config": config_as_dict(config),
        "models": models.ids(),
        "summary": summary.as_dict(),
    }
    tables.write_metadata(f"runs/{run_id}.json", record)
    tables.write_metadata("latest.json", record)
    return summary
