"""`facepipe bench`: the embed pipeline on a photo set, written to a scratch place, measured."""

from __future__ import annotations

import resource
import tempfile
from pathlib import Path

from pipeline.config import Config, config_as_dict
from pipeline.ingest import run_embed
from pipeline.models import create_detector, create_embedder, resolve_device
from pipeline.resources import ResourceSampler


def run_bench(src: str, config: Config) -> dict:
    """Run the embed job on ``src`` into a temporary folder; return its figures as plain data."""
    detector, embedder = create_detector(config.models), create_embedder(config.models)
    with tempfile.TemporaryDirectory(prefix="facepipe-bench-") as scratch, ResourceSampler() as sampler:
        summary = run_embed(src, str(Path(scratch) / "tables"), config)
    return {
        "photos": summary.processed,
        "faces": summary.faces,
        "seconds": round(summary.seconds, 2),
        "photos_per_s": round(summary.photos_per_s, 2),
        "faces_per_s": round(summary.faces / summary.seconds, 2) if summary.seconds else 0.0,
        "stage_seconds": {stage: round(seconds, 2) for stage, seconds in summary.stage_seconds.items()},
        "status": summary.status,
        **sampler.summary(),
        "driver_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "device": resolve_device(config.models.device),
        "models": {
            "detector": detector.model_id,
            "detector_engine": type(detector).__name__,
            "embedder": embedder.model_id,
            "embedder_engine": type(embedder).__name__,
        },
        "config": config_as_dict(config),
    }
