"""Embed throughput: end-to-end photos/s of the real job, and the per-stage split measured stage by stage.

    python -m benchmarks.embed_throughput --input DIR [--limit N] [--upscale 4] [--set key=value ...]

--upscale K first writes the photos K times larger (JPEG, quality 92) to a temporary folder, to
measure megapixel photos. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa

from pipeline import schema as S
from pipeline.align import align_faces
from pipeline.config import load_config
from pipeline.decode import decode_photos, pixels_of
from pipeline.graph import connect
from pipeline.ingest import run_embed
from pipeline.models import create_detector, create_embedder
from pipeline.store import list_photos, read_photos


def upscaled_copy(photos: list[str], factor: int, folder: Path) -> list[str]:
    """Write each photo ``factor`` times larger as JPEG into ``folder``; return the new paths."""
    out = []
    for i, photo in enumerate(photos):
        image = cv2.imread(photo)
        big = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
        target = folder / f"{i:06d}.jpg"
        cv2.imwrite(str(target), big, [cv2.IMWRITE_JPEG_QUALITY, 92])
        out.append(str(target))
    return out


def stage_split(uris: list[str], config) -> dict:
    """Seconds per photo of each stage, run one after another in this process."""
    detector, embedder = create_detector(config.models), create_embedder(config.models)
    cv2.setNumThreads(1)
    timings = dict.fromkeys(("read", "decode", "detect", "align", "embed"), 0.0)
    step = config.ray.read_batch_size
    faces = 0
    for start in range(0, len(uris), step):
        batch = pa.table({S.URI: uris[start : start + step]})
        t0 = time.perf_counter()
        read = read_photos(batch, config.resolved_storage())
        t1 = time.perf_counter()
        decoded = decode_photos(read, config.decode.max_pixels, config.models.detect_max_side if config.decode.reduce_jpeg else None)
        t2 = time.perf_counter()
        timings["read"] += t1 - t0
        timings["decode"] += t2 - t1
        for row in decoded.to_pylist():
            image = pixels_of(row[S.PIXELS], row[S.PIXELS_WIDTH], row[S.PIXELS_HEIGHT])
            t0 = time.perf_counter()
            found = detector.detect(image)
            t1 = time.perf_counter()
            crops = align_faces(image, found.landmarks)
            t2 = time.perf_counter()
            embedder(crops)
            t3 = time.perf_counter()
            timings["detect"] += t1 - t0
            timings["align"] += t2 - t1
            timings["embed"] += t3 - t2
            faces += len(found)
    return {"ms_per_photo_one_thread": {k: round(v / len(uris) * 1000, 2) for k, v in timings.items()}, "faces": faces}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--upscale", type=int, default=1)
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    config = load_config(overrides=args.set)
    listing = list_photos(args.input, config.resolved_storage(), config.input.extensions)
    uris = listing[S.URI].to_pylist()[: args.limit]
    with tempfile.TemporaryDirectory() as scratch:
        src = Path(scratch) / "photos"
        src.mkdir()
        if args.upscale > 1:
            uris = upscaled_copy(uris, args.upscale, src)
        else:
            for i, uri in enumerate(uris):
                (src / f"{i:06d}{Path(uri).suffix}").symlink_to(uri)
            uris = sorted(str(p) for p in src.iterdir())
        first = cv2.imread(uris[0])
        split = stage_split(uris[: min(200, len(uris))], config)
        connect(config.ray)
        started = time.perf_counter()
        summary = run_embed(str(src), str(Path(scratch) / "tables"), config)
        seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "photos": summary.processed,
                "photo_size": f"{first.shape[1]}x{first.shape[0]}",
                "faces": summary.faces,
                "seconds_end_to_end": round(seconds, 2),
                "photos_per_s_end_to_end": round(summary.processed / seconds, 2),
                "stage_split_on_first_200": split,
                "driver_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "status": summary.status,
            }
        )
    )


if __name__ == "__main__":
    main()
