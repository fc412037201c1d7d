"""`facepipe bench`: the embed job on a photo set, written to a scratch place, measured."""

from __future__ import annotations

import resource
import tempfile
from pathlib import Path

from pipeline.config import Config, config_as_dict
from pipeline.ingest.embed_job import embed
from pipeline.runtime.resources import ResourceSampler


def run_bench(src: str, config: Config) -> dict:
    """Run the embed job on ``src`` into a temporary folder; return its figures as plain data."""
    with tempfile.TemporaryDirectory(prefix="facepipe-bench-") as scratch, ResourceSampler() as sampler:
        summary = embed(src, str(Path(scratch) / "tables"), config)
    models = summary.models
    return {
        "runner": summary.runner,
        "photos": summary.processed,
        "faces": summary.faces,
        "seconds": round(summary.seconds, 2),
        "first_commit_seconds": summary.first_commit_seconds,
        "photos_per_s": round(summary.photos_per_s, 2),
        "faces_per_s": round(summary.faces / summary.seconds, 2) if summary.seconds else 0.0,
        "stage_seconds": {stage: round(seconds, 2) for stage, seconds in summary.stage_seconds.items()},
        "status": summary.status,
        **sampler.summary(),
        "driver_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "device": models["device"],
        "models": {key: models[key] for key in ("detector", "detector_engine", "embedder", "embedder_engine")},
        "config": config_as_dict(config),
    }
