"""`facepipe dedup` time and memory on seeded synthetic photo records (no photos: images rows only).

    python -m benchmarks.dedup_scale --photos 1000000 [--copies 0.1] [--set dedup.KEY=VALUE]

Each record has a random PDQ hash and random variant hashes; a share of them are copies of another
record: its hash or one of its variants with up to 24 bits flipped (a tenth of those also with the
same file bytes). The records are written as an images table through the embed job's writer, then
dedup runs over it; pixels are never read back (dedup.exposure_residual=0: there are no files).
Prints one JSON object: seconds, peak memory, groups, and the planted copies found.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipeline import schema as S
from pipeline.config import load_config
from pipeline.dedup.candidates import VARIANTS
from pipeline.dedup.dedup_job import deduplicate
from pipeline.io.tables import FaceTables, read_table

FLIPPED = 24  # at most this many bits of a copy's hash differ from its source's


def synthetic_images(photos: int, copies: float, seed: int) -> tuple[pa.Table, np.ndarray]:
    """Images rows of ``photos`` records, and per record the record it copies (-1: an original)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (photos, len(VARIANTS), 32), dtype=np.uint8)
    source = np.where(rng.random(photos) < copies, rng.integers(0, photos, photos), -1)
    source[source >= np.arange(photos)] = -1  # a copy comes after its source: no cycles
    copied = np.flatnonzero(source >= 0)
    bits = np.unpackbits(codes[source[copied], rng.integers(0, len(VARIANTS), len(copied))], axis=1)
    for row, flips in zip(bits, rng.integers(0, FLIPPED + 1, len(copied))):
        row[rng.choice(256, flips, replace=False)] ^= 1
    codes[copied, 0] = np.packbits(bits, axis=1)
    sha = np.array([f"{k:064x}" for k in range(photos)], object)
    for k in copied[rng.random(len(copied)) < 0.1]:  # byte copies, in order: a copy's source is earlier
        sha[k] = sha[source[k]]
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    table = pa.table(
        {
            S.IMAGE_ID: sha,
            S.URI: [f"s3://library/photos/{k:08d}.jpg" for k in range(photos)],
            S.STATUS: [S.STATUS_OK] * photos,
            S.NUM_FACES: pa.array(np.zeros(photos, np.int32)),
            S.WIDTH: pa.array(rng.choice([4032, 3024, 1920, 1280], photos).astype(np.int32)),
            S.HEIGHT: pa.array(rng.choice([3024, 2268, 1080, 960], photos).astype(np.int32)),
            S.SIZE: pa.array(rng.integers(200_000, 5_000_000, photos)),
            S.MTIME: pa.array([now] * photos, S.TIMESTAMP),
            S.RUN_ID: ["synthetic"] * photos,
            S.PROCESSED_AT: pa.array([now] * photos, S.TIMESTAMP),
            S.SHA256: sha,
            S.PIXEL_SHA256: sha,
            S.PDQ: [c.tobytes() for c in codes[:, 0]],
            S.PDQ_QUALITY: pa.array(np.full(photos, 100, np.int32)),
            S.PDQ_VARIANTS: [[v.tobytes() for v in c[1:]] for c in codes],
            S.FORMAT: ["JPEG"] * photos,
            S.JPEG_QUALITY: pa.array(rng.integers(60, 98, photos).astype(np.int32)),
            S.GREYSCALE: [False] * photos,
            S.CONTENT_FRACTION: pa.array(np.ones(photos, np.float32)),
            S.EXIF_FIELDS: pa.array(rng.integers(0, 40, photos).astype(np.int32)),
        }
    )
    missing = [f for f in S.IMAGES_SCHEMA if f.name not in table.column_names]
    for field in missing:
        table = table.append_column(field, pa.nulls(photos, field.type))
    return table.select(S.IMAGES_SCHEMA.names).cast(S.IMAGES_SCHEMA), source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--copies", type=float, default=0.1, help="share of records that copy an earlier one")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="dedup.KEY=VALUE")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    config = load_config(None, ["dedup.exposure_residual=0", *args.set])
    images, source = synthetic_images(args.photos, args.copies, args.seed)
    with tempfile.TemporaryDirectory(prefix="facepipe-dedup-scale-") as scratch:
        dst = str(Path(scratch) / "tables")
        tables = FaceTables(dst, config.resolved_storage(), 1, "synthetic", "synthetic")
        tables.commit(images, S.faces_schema(1).empty_table(), [])
        started = time.perf_counter()
        summary = deduplicate(dst, config)
        seconds = time.perf_counter() - started
        rows = read_table(dst, S.DUPLICATES_TABLE)
    group = dict(zip(rows[S.URI].to_pylist(), rows[S.GROUP_ID].to_pylist()))
    uris = images[S.URI].to_pylist()
    copied = np.flatnonzero(source >= 0)
    found = sum(1 for k in copied if uris[k] in group and group[uris[k]] == group.get(uris[source[k]]))
    print(
        json.dumps(
            {
                "photos": args.photos,
                "planted_copies": len(copied),
                "planted_copies_found": found,
                "recall": round(found / max(1, len(copied)), 4),
                "groups": summary.groups,
                "photos_in_groups": summary.photos_in_groups,
                "seconds": round(seconds, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "summary": summary,
            }
        )
    )


if __name__ == "__main__":
    main()
