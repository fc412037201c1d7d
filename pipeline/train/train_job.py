"""The train job: labelled crops prepared by the embed pipeline, the training loop on Ray Train
(DDP over gloo on CPU, NCCL on GPU), a summary.

Output, a folder or an s3:// prefix (on a cluster of several nodes, a folder they all reach, or S3):
``checkpoints/`` is Ray Train's run folder, where the workers' checkpoints land (``step-NNNNNN/``:
every ``checkpoint_every`` steps and at the end, each the model pack at that step, the optimizer's
state and the metrics so far); rerunning the same command resumes from the latest.
``triplets/step-NNNNNN.parquet`` holds each offline mining's triplets (written by rank 0). When
training ends, the last checkpoint's ``metrics.jsonl`` (a line per step: loss, active fraction,
mining and step seconds, images/s; a line per held-out evaluation) and ``pack/`` (the model pack)
are copied beside them, with ``summary.json``.
"""

from __future__ import annotations

import json
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

from pipeline.config import Config, StorageConfig
from pipeline.errors import ConfigError
from pipeline.io import store
from pipeline.io.readers import read_labels
from pipeline.models.packs import PACK_FILE
from pipeline.runtime.ray_cluster import cluster_resources, connect
from pipeline.runtime.ray_train import train_on_ray
from pipeline.train.checkpoint import METRICS, PACK, parse_metrics
from pipeline.train.data import aligned_crops, lfw_split
from pipeline.train.loop import train_worker

CHECKPOINTS, SUMMARY = "checkpoints", "summary.json"


def _show(record: dict, total: int) -> None:
    """The progress line on stderr, from a record rank 0 sends."""
    if "loss" in record:
        sys.stderr.write(
            f"\rstep {record['step']}/{total}  loss {record['loss']:.4f}  active {record['active']:.2f}"
            f"  {record['images_per_s_per_worker']:.1f} img/s/worker  {record['train_s']:.0f} s   "
        )
    else:
        sys.stderr.write(f"\nheld-out at step {record['step']}: {record['eval']}\n")
    sys.stderr.flush()


def _publish(checkpoint: Path, metrics: dict, output: str, storage: StorageConfig) -> tuple[list[dict], int]:
    """Copy the last checkpoint's pack (its manifest last) and metrics into ``output``; returns the
    metrics records and the step the run that wrote it resumed from (0: from scratch)."""
    for path in sorted((checkpoint / PACK).iterdir(), key=lambda path: path.name == PACK_FILE):
        store.write_bytes(store.join(output, PACK, path.name), path.read_bytes(), storage)
    text = (checkpoint / METRICS).read_text()
    store.write_text(store.join(output, METRICS), text, storage)
    return parse_metrics(text), metrics["resumed_from_step"]


def run_training(config: Config, output: str) -> dict:
    """Prepare the labelled crops, train on Ray Train, leave the pack, the metrics and a summary in
    ``output`` (a folder or s3://)."""
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
    args = {
        "train": cfg.model_dump(),
        "output": output,
        "storage": storage.model_dump(),
        "train_uris": train.uris.tolist(),
    }
    shared = {"train_data": (train.crops, train.labels), "test_data": held_out}
    started = time.monotonic()
    try:
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
            partial(_show, total=cfg.steps),
            partial(_publish, output=output, storage=storage),
        )
    finally:
        sys.stderr.write("\n")
    steps = [r for r in records if "loss" in r]
    evals = [r for r in records if "eval" in r]
    mining = sum(r["mining_s"] for r in steps)
    summary = {
        "output": output,
        "pack": store.join(output, PACK),
        "objective": cfg.objective,
        "model": cfg.model,
        "workers": cfg.workers,
        "device": "cuda" if use_gpu else "cpu",
        "train_faces": len(train.labels),
        "train_people": int(len(np.unique(train.labels))),
        "steps": steps[-1]["step"] if steps else 0,
        "resumed_from_step": resumed_from,
        "seconds_this_run": round(time.monotonic() - started, 1),
        "images_per_s_per_worker": round(float(np.median([r["images_per_s_per_worker"] for r in steps])), 2)
        if steps
        else 0,
        "mining_share_of_step_time": round(mining / max(sum(r["step_s"] for r in steps), 1e-9), 4),
        "held_out_before": evals[0]["eval"] if evals else None,
        "held_out_after": evals[-1]["eval"] if evals else None,
    }
    store.write_text(store.join(output, SUMMARY), json.dumps(summary, indent=2), storage)
    return summary
