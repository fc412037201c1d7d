"""What reading one library of a store of many costs: files opened and seconds for read_table(..., library=L)
of a small library and of a large one, against a scan of the whole table, before and after the night's
maintenance. Synthetic: no photos are read.

    python -m benchmarks.library_layout [--libraries 10000] [--faces 1000000] [--buckets 64] [--commit-every 1000]

Library sizes follow a power law from --smallest to --largest faces (a truncated Pareto whose exponent
makes them add up to about --faces); each photo holds one face of a random 128-d embedding. The libraries
are written in random order, each library's photos together, through the tables writer in commits of
--commit-every photos, as the embed commits them; then pipeline.io.maintenance.maintain_tables runs.
Prints one JSON object: the store, each table's files, the writes' and the maintenance's seconds, and per
read (the smallest library, the median one, the largest; before and after maintenance) the files it
opens and its seconds, beside a full scan's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import schema as S
from pipeline.io.maintenance import maintain_tables
from pipeline.io.tables import FaceTables, TablesSnapshot, read_table

DIM = 128


def library_sizes(libraries: int, faces: int, smallest: int, largest: int, seed: int) -> np.ndarray:
    """Faces of each library: a Pareto law from ``smallest``, cut at ``largest``, whose exponent is chosen
    (by bisection) so that the sizes add up to about ``faces``."""
    uniform = np.random.default_rng(seed).random(libraries)

    def sizes(exponent: float) -> np.ndarray:
        return np.minimum(smallest * uniform ** (-1 / exponent), largest).astype(np.int64)

    low, high = 0.05, 20.0  # a smaller exponent, a heavier tail: more faces in all
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if sizes(middle).sum() > faces else (low, middle)
    return sizes(high)


def batch_rows(libraries: list[str], first: int, rng: np.random.Generator) -> tuple[pa.Table, pa.Table]:
    """Images and faces rows of photos ``first``, ``first + 1``, ... of ``libraries`` (one per photo)."""
    n, now = len(libraries), dt.datetime.now(dt.timezone.utc)
    uris = [f"s3://photos/{library}/{first + k:08d}.jpg" for k, library in enumerate(libraries)]
    image_ids = [f"img-{first + k:08d}" for k in range(n)]
    images = {
        S.IMAGE_ID: image_ids,
        S.URI: uris,
        S.LIBRARY: libraries,
        S.STATUS: [S.STATUS_OK] * n,
        S.NUM_FACES: pa.array(np.ones(n, np.int32)),
        S.WIDTH: pa.array(np.full(n, 4000, np.int32)),
        S.HEIGHT: pa.array(np.full(n, 3000, np.int32)),
        S.SIZE: pa.array(np.full(n, 3_000_000, np.int64)),
        S.MTIME: [now] * n,
        S.RUN_ID: ["bench"] * n,
        S.PROCESSED_AT: [now] * n,
    }
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    faces = {
        S.FACE_ID: [f"face-{first + k:08d}" for k in range(n)],
        S.IMAGE_ID: image_ids,
        S.URI: uris,
        S.LIBRARY: libraries,
        S.FACE_INDEX: pa.array(np.zeros(n, np.int32)),
        S.BBOX: pa.array([[100.0, 100.0, 400.0, 400.0]] * n, pa.list_(pa.float32(), 4)),
        S.DET_SCORE: pa.array(np.full(n, 0.9, np.float32)),
        S.EMBEDDING: pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
        S.MODEL: ["synthetic"] * n,
        S.DETECTOR: ["synthetic"] * n,
        S.RUN_ID: ["bench"] * n,
    }

    def table(columns: dict, schema: pa.Schema) -> pa.Table:
        return pa.table({f.name: columns.get(f.name, pa.nulls(n, f.type)) for f in schema}).cast(schema)

    return table(images, S.IMAGES_SCHEMA), table(faces, S.faces_schema(DIM))


def write_store(dst: str, sizes: dict[str, int], commit_every: int, buckets: int, seed: int) -> float:
    """Every library's photos at ``dst``, libraries in random order, in commits of ``commit_every``
    photos; returns the seconds taken."""
    rng = np.random.default_rng(seed)
    order = [name for name in rng.permutation(sorted(sizes))]
    photos = np.repeat(np.array(order, dtype=object), [sizes[name] for name in order]).tolist()
    writer = FaceTables(dst, None, DIM, "synthetic", "synthetic", library_buckets=buckets)
    started = time.perf_counter()
    for first in range(0, len(photos), commit_every):
        writer.commit(*batch_rows(photos[first : first + commit_every], first, rng), [])
    return round(time.perf_counter() - started, 2)


def timed_read(dst: str, name: str, library: str | None) -> tuple[pa.Table, float]:
    started = time.perf_counter()
    rows = read_table(dst, name) if library is None else read_table(dst, name, library=library)
    return rows, round(time.perf_counter() - started, 3)


def reads(dst: str, examples: dict[str, str], sizes: dict[str, int]) -> dict:
    """Per table and example library: the files its read opens, its seconds, and the seconds of a full
    scan filtered after (which opens every file), checking both return the library's rows."""
    snapshot, figures = TablesSnapshot(dst), {}
    for name in (S.FACES_TABLE, S.IMAGES_TABLE):
        every, scan_seconds = timed_read(dst, name, None)
        figures[name] = {"files": len(snapshot.table(name).file_uris()), "full_scan_seconds": scan_seconds}
        for what, library in examples.items():
            rows, seconds = timed_read(dst, name, library)
            scanned = every.filter(pc.equal(every[S.LIBRARY], library))
            assert rows.num_rows == scanned.num_rows == sizes[library], (name, library)
            figures[name][what] = {
                "library_faces": sizes[library],
                "files_read": len(snapshot.files(name, [library])),
                "seconds": seconds,
            }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--libraries", type=int, default=10_000)
    parser.add_argument("--faces", type=int, default=1_000_000, help="about this many faces in all")
    parser.add_argument("--smallest", type=int, default=20, help="faces of the smallest library")
    parser.add_argument("--largest", type=int, default=50_000, help="faces of the largest library")
    parser.add_argument("--buckets", type=int, default=64, help="output.library_buckets")
    parser.add_argument("--commit-every", type=int, default=1000, help="photos a commit (output.commit_every)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dst", help="write the store here (default: a temporary folder)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    counts = library_sizes(args.libraries, args.faces, args.smallest, args.largest, args.seed)
    sizes = {f"owner{k:06d}": int(count) for k, count in enumerate(counts)}
    ranked = sorted(sizes, key=lambda name: (sizes[name], name))
    examples = {"small": ranked[0], "median": ranked[len(ranked) // 2], "large": ranked[-1]}
    figures = {
        "libraries": args.libraries,
        "faces": int(counts.sum()),
        "library_faces": {
            "smallest": int(counts.min()),
            "median": int(np.median(counts)),
            "largest": int(counts.max()),
        },
        "buckets": args.buckets,
        "commit_every": args.commit_every,
    }
    with tempfile.TemporaryDirectory(prefix="facepipe-library-layout-") as scratch:
        dst = args.dst or str(Path(scratch) / "dst")
        figures["write_seconds"] = write_store(dst, sizes, args.commit_every, args.buckets, args.seed)
        figures["commits"] = TablesSnapshot(dst).version(S.IMAGES_TABLE)
        figures["before_maintenance"] = reads(dst, examples, sizes)
        figures["maintenance"] = maintain_tables(dst)
        figures["after_maintenance"] = reads(dst, examples, sizes)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
