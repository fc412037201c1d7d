"""The train job (``pipeline.train_embedder``, `facepipe train`): labelled crops prepared by the embed pipeline,
the training loop on Ray Train (DDP over gloo on CPU, NCCL on GPU), a summary.

Output, a folder or an s3:// prefix (on a cluster of several nodes, a folder they all reach, or S3):
``checkpoints/`` is Ray Train's run folder, where the workers' checkpoints land (``step-NNNNNN/``:
every ``checkpoint_every`` steps and at the end, each the model pack at that step, the optimizer's
state and the metrics so far); rerunning the same command resumes from the latest.
``triplets/step-NNNNNN.parquet`` holds each offline mining's triplets (rank 0's, kept in memory and
written at the next checkpoint, so the files name the minings of checkpointed steps). When
training ends, the last checkpoint's ``metrics.jsonl`` (a line per step: loss, active fraction,
mining and step seconds, images/s; a line per held-out evaluation) and ``pack/`` (the model pack)
are copied beside them, with ``summary.json``.
"""

from __future__ import annotations

import io
import json
import logging
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from pipeline.config import Config, StorageConfig, TrainConfig, load_config
from pipeline.errors import ConfigError
from pipeline.io import store
from pipeline.io.readers import read_labels
from pipeline.models.packs import PACK_FILE
from pipeline.progress import Progress
from pipeline.results import JobResult
from pipeline.runtime.ray_cluster import cluster_resources, connect
from pipeline.runtime.ray_train import train_on_ray
from pipeline.train.checkpoint import METRICS, PACK, parse_metrics
from pipeline.train.data import aligned_crops, lfw_split
from pipeline.train.loop import LoopSettings, train_worker
from pipeline.train.mining import Mining
from pipeline.train.objectives import ObjectiveSettings

log = logging.getLogger(__name__)

CHECKPOINTS, SUMMARY, TRIPLETS = "checkpoints", "summary.json", "triplets"


@dataclass(frozen=True)
class TrainResult(JobResult):
    """What a training run did (also OUTPUT/summary.json): where the pack is, the objective, model,
    workers and device, the training faces and people, the steps (and the step a resumed run started
    from), the seconds of this run, images per second per worker, the share of step time spent mining,
    and the held-out figures before and after."""

    output: str
    pack: str
    objective: str
    model: str
    workers: int
    device: str
    train_faces: int
    train_people: int
    steps: int
    resumed_from_step: int
    seconds_this_run: float
    images_per_s_per_worker: float
    mining_share_of_step_time: float
    held_out_before: dict | None
    held_out_after: dict | None


class _Shown:
    """The driver's view of the records rank 0 sends: a progress bar over the steps on a terminal, a log
    line per held-out evaluation."""

    def __init__(self, steps: int):
        self.bar = Progress("train", steps, "step")
        self.step = 0

    def __call__(self, record: dict) -> None:
        if "loss" in record:
            self.bar.advance(record["step"] - self.step, loss=f"{record['loss']:.4f}", active=f"{record['active']:.2f}")
            self.step = record["step"]
        else:
            log.info("held-out at step %d: %s", record["step"], record["eval"])


def _write_mining(mining: Mining, face_ids: np.ndarray, output: str, storage: StorageConfig) -> None:
    """``output``/triplets/step-NNNNNN.parquet: the triplets of ``mining`` by face id (the photo uri)."""
    buffer = io.BytesIO()
    pq.write_table(mining.triplets.table(face_ids[mining.rows], mining.step), buffer)
    store.write_bytes(store.join(output, TRIPLETS, f"step-{mining.step:06d}.parquet"), buffer.getvalue(), storage)


def _settings(cfg: TrainConfig, train_faces: int) -> tuple[LoopSettings, ObjectiveSettings]:
    """The loop's and the objective's settings from the train section (``train_faces``: the faces of
    an epoch, which the default evaluation schedule follows)."""
    objective = ObjectiveSettings(
        name=cfg.objective,
        margin=cfg.margin,
        contrastive_margin=cfg.contrastive_margin,
        people_per_batch=cfg.people_per_batch,
        faces_per_person=cfg.faces_per_person,
        mine_every=cfg.mine_every,
        mine_people=cfg.mine_people,
        mine_faces_per_person=cfg.mine_faces_per_person,
        mine_neighbours=cfg.mine_neighbours,
    )
    loop = LoopSettings(
        architecture=cfg.model,
        steps=cfg.steps,
        time_budget_s=cfg.time_budget_s,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        seed=cfg.seed,
        augment=cfg.augment,
        mixed_precision=cfg.mixed_precision,
        threads=max(1, int(cfg.cpus_per_worker)),
        eval_every=cfg.eval_every or max(1, train_faces // (objective.batch_size * cfg.workers)),
        checkpoint_every=cfg.checkpoint_every,
    )
    return loop, objective


def _publish(checkpoint: Path, metrics: dict, output: str, storage: StorageConfig) -> tuple[list[dict], int]:
    """Copy the last checkpoint's pack (its manifest last) and metrics into ``output``; returns the
    metrics records and the step the run that wrote it resumed from (0: from scratch)."""
    for path in sorted((checkpoint / PACK).iterdir(), key=lambda path: path.name == PACK_FILE):
        store.write_bytes(store.join(output, PACK, path.name), path.read_bytes(), storage)
    text = (checkpoint / METRICS).read_text()
    store.write_text(store.join(output, METRICS), text, storage)
    return parse_metrics(text), metrics["resumed_from_step"]


def train_embedder(output: str, config: Config | None = None) -> TrainResult:
    """Train or fine-tune the embedder as config.train says (the photos of train.data or train.lfw,
    crops made by the embed pipeline) on Ray Train, and leave the model pack, the metrics and a summary
    in ``output`` (a folder or s3://; rerunning with the same output resumes from its last checkpoint).
    Writes no library: no lease. ConfigError when neither train.data nor train.lfw is set."""
    config = config or load_config()
    cfg, storage = config.train, config.resolved_storage()
    output = output if store.is_s3(output) else str(Path(output).resolve())
    store.ensure_writable(output, storage)
    pairs, test_photos = [], {}
    if cfg.data:
        train_photos = read_labels(cfg.data)
    elif cfg.lfw:
        train_photos, pairs, test_photos = lfw_split(cfg.lfw, cfg.test_fold)
    else:
        raise ConfigError("set train.data (a CSV of uri,person) or train.lfw (an LFW folder)")
    if cfg.data and cfg.lfw:  # evaluate on LFW's held-out fold
        _, pairs, test_photos = lfw_split(cfg.lfw, cfg.test_fold)
    connect(config.ray)
    # one tables folder per photo set: the embed job treats photos missing from its listing as removed
    train = aligned_crops(train_photos, store.join(output, "tables", "train"), config)
    use_gpu = cfg.use_gpu if cfg.use_gpu is not None else cluster_resources()[1] >= cfg.workers
    held_out = None
    if pairs:
        test = aligned_crops(test_photos, store.join(output, "tables", "held-out"), config)
        # absolute: the workers resolve the pairs' photos from another working directory
        held_out = (dict(zip(test.uris.tolist(), test.crops)), pairs, str((Path(cfg.lfw) / "images").resolve()))
    loop, objective = _settings(cfg, len(train.labels))
    write_mining = partial(_write_mining, face_ids=train.uris, output=output, storage=storage)
    args = {"settings": loop, "objective": objective, "write_mining": write_mining}
    shared = {"train_data": (train.crops, train.labels), "test_data": held_out}
    started = time.monotonic()
    shown = _Shown(cfg.steps)
    with shown.bar:
        records, resumed_from = train_on_ray(
            train_worker,
            args,
            shared,
            cfg.workers,
            cfg.cpus_per_worker,
            use_gpu,
            output,
            storage,
            CHECKPOINTS,
            shown,
            partial(_publish, output=output, storage=storage),
        )
    steps = [r for r in records if "loss" in r]
    evals = [r for r in records if "eval" in r]
    mining = sum(r["mining_s"] for r in steps)
    result = TrainResult(
        output=output,
        pack=store.join(output, PACK),
        objective=cfg.objective,
        model=cfg.model,
        workers=cfg.workers,
        device="cuda" if use_gpu else "cpu",
        train_faces=len(train.labels),
        train_people=int(len(np.unique(train.labels))),
        steps=steps[-1]["step"] if steps else 0,
        resumed_from_step=resumed_from,
        seconds_this_run=round(time.monotonic() - started, 1),
        images_per_s_per_worker=round(float(np.median([r["images_per_s_per_worker"] for r in steps])), 2)
        if steps
        else 0,
        mining_share_of_step_time=round(mining / max(sum(r["step_s"] for r in steps), 1e-9), 4),
        held_out_before=evals[0]["eval"] if evals else None,
        held_out_after=evals[-1]["eval"] if evals else None,
    )
    store.write_text(store.join(output, SUMMARY), json.dumps(result.as_dict(), indent=2), storage)
    return result
