"""The train job: labelled crops prepared by the embed pipeline, the training loop on Ray Train
(DDP over gloo on CPU, NCCL on GPU), a summary.

Output folder: ``checkpoints/step-NNNNNN.pt`` (every ``checkpoint_every`` steps and at the end; a
rerun resumes from the latest), ``metrics.jsonl`` (a line per step: loss, active fraction, mining
and step seconds, images/s; a line per held-out evaluation), ``triplets/step-NNNNNN.parquet`` (each
offline mining's triplets), ``pack/`` (the model pack) and ``summary.json``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

from pipeline.config import Config, ConfigError
from pipeline.io.readers import read_labels
from pipeline.runtime.ray_cluster import cluster_resources, connect
from pipeline.runtime.ray_train import train_on_ray
from pipeline.train.data import aligned_crops, lfw_split
from pipeline.train.loop import METRICS, PACK, SUMMARY, train_worker


def _follow(path: Path, total: int, done: threading.Event) -> None:
    """A progress line on stderr from the metrics file rank 0 writes."""
    seen = 0
    while not done.wait(2.0):
        if not path.is_file():
            continue
        lines = path.read_text().splitlines()
        steps = [json.loads(line) for line in lines[seen:]]
        seen = len(lines)
        for record in steps:
            if "loss" in record:
                sys.stderr.write(
                    f"\rstep {record['step']}/{total}  loss {record['loss']:.4f}  active {record['active']:.2f}"
                    f"  {record['images_per_s_per_worker']:.1f} img/s/worker  {record['train_s']:.0f} s   "
                )
            else:
                sys.stderr.write(f"\nheld-out at step {record['step']}: {record['eval']}\n")
        sys.stderr.flush()


def run_training(config: Config, output: str) -> dict:
    """Prepare the labelled crops, train on Ray Train, leave the pack and a summary in ``output``."""
    cfg = config.train
    out = Path(output).resolve()
    out.mkdir(parents=True, exist_ok=True)
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
    train = aligned_crops(train_photos, str(out / "tables" / "train"), config)
    use_gpu = cfg.use_gpu if cfg.use_gpu is not None else cluster_resources()[1] >= cfg.workers
    held_out = None
    if pairs:
        test = aligned_crops(test_photos, str(out / "tables" / "held-out"), config)
        # absolute: the workers resolve the pairs' photos from another working directory
        held_out = (dict(zip(test.uris.tolist(), test.crops)), pairs, str((Path(cfg.lfw) / "images").resolve()))
    args = {"train": cfg.model_dump(), "output": str(out), "train_uris": train.uris.tolist()}
    shared = {"train_data": (train.crops, train.labels), "test_data": held_out}
    done = threading.Event()
    follower = threading.Thread(target=_follow, args=(out / METRICS, cfg.steps, done), daemon=True)
    follower.start()
    started = time.monotonic()
    try:
        train_on_ray(
            train_worker, args, shared, cfg.workers, cfg.cpus_per_worker, use_gpu, str(out / "ray"), "facepipe-train"
        )
    finally:
        done.set()
        follower.join()
        sys.stderr.write("\n")
    records = [json.loads(line) for line in (out / METRICS).read_text().splitlines()]
    steps = [r for r in records if "loss" in r]
    evals = [r for r in records if "eval" in r]
    mining = sum(r["mining_s"] for r in steps)
    summary = {
        "output": str(out),
        "pack": str(out / PACK),
        "objective": cfg.objective,
        "model": cfg.model,
        "workers": cfg.workers,
        "device": "cuda" if use_gpu else "cpu",
        "train_faces": len(train.labels),
        "train_people": int(len(np.unique(train.labels))),
        "steps": steps[-1]["step"] if steps else 0,
        "seconds_this_run": round(time.monotonic() - started, 1),
        "images_per_s_per_worker": round(float(np.median([r["images_per_s_per_worker"] for r in steps])), 2)
        if steps
        else 0,
        "mining_share_of_step_time": round(mining / max(sum(r["step_s"] for r in steps), 1e-9), 4),
        "held_out_before": evals[0]["eval"] if evals else None,
        "held_out_after": evals[-1]["eval"] if evals else None,
    }
    (out / SUMMARY).write_text(json.dumps(summary, indent=2))
    return summary
