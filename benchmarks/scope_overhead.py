"""What a scope costs: the night's cluster, dedup and tags steps over many small libraries, each its own
scope, against the same faces and photos as one library (one scope). Synthetic: no photos are read.

    python -m benchmarks.scope_overhead [--libraries 1000] [--faces 20] [--seed 0]

Each library holds ``--faces`` photos of one face each, of its own people (5 faces a person, drawn by
pipeline.evaluate.synthetic), with the dedup fingerprints of benchmarks.dedup_scale (10% copies, of a
photo of the same library); one face of every second person is tagged. Both stores are written through
the tables writer and run the steps as the night does (dedup.exposure_residual=0: there are no files).
Prints one JSON object: per store, each step's seconds; and the seconds a scope adds, per step.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from benchmarks.dedup_scale import synthetic_images
from pipeline import schema as S
from pipeline.config import load_config
from pipeline.dedup.dedup_job import deduplicate
from pipeline.evaluate.synthetic import face_like_embeddings
from pipeline.io.tables import FaceTables
from pipeline.io.tags_table import record_tags
from pipeline.people.cluster_job import cluster
from pipeline.similarity.thresholds import REFERENCE_MODEL
from pipeline.tags.suggest_job import suggest_tags

FACES_A_PERSON = 5


def synthetic_store(
    dst: str, sizes: list[int], seed: int, names: list[str] | None = None, prefix: str = "p", commit_rows: int = 100_000
) -> None:
    """Libraries of ``sizes`` photos (one face each, a multiple of FACES_A_PERSON) written at ``dst`` in commits
    of ``commit_rows`` photos: named ``names``, or all in the default library. ``prefix`` sets the photos
    apart from those of another call on the same store."""
    people = [size // FACES_A_PERSON for size in sizes]
    data = face_like_embeddings(sum(people), 128, (FACES_A_PERSON, FACES_A_PERSON), seed=seed)
    order = np.argsort(data.labels, kind="stable")  # each person's faces together, people in order
    vectors, person = data.vectors[order], data.labels[order]
    n = len(vectors)
    images, _ = synthetic_images(n, 0.1, seed)
    owners = np.repeat(
        names if names is not None else [S.DEFAULT_LIBRARY] * len(sizes), FACES_A_PERSON * np.array(people)
    )
    image_ids = [f"{prefix}-{sha}" for sha in images[S.IMAGE_ID].to_pylist()]  # byte copies keep one sha
    uris = [f"s3://{owner}/{prefix}-{k:08d}.jpg" for k, owner in enumerate(owners)]
    for name, values in ((S.LIBRARY, owners.tolist()), (S.URI, uris), (S.IMAGE_ID, image_ids), (S.SHA256, image_ids)):
        images = images.set_column(images.schema.get_field_index(name), name, pa.array(values, pa.string()))
    images = images.set_column(images.schema.get_field_index(S.NUM_FACES), S.NUM_FACES, pa.array([1] * n, pa.int32()))
    face_ids = [f"{prefix}-face-{k:08d}" for k in range(n)]
    columns = {
        S.FACE_ID: face_ids,
        S.IMAGE_ID: image_ids,
        S.URI: uris,
        S.LIBRARY: owners.tolist(),
        S.FACE_INDEX: pa.array(np.zeros(n, np.int32)),
        S.BBOX: pa.array([[0.0, 0.0, 100.0, 100.0]] * n, pa.list_(pa.float32(), 4)),
        S.EMBEDDING: pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 128),
        S.MODEL: [REFERENCE_MODEL] * n,
    }
    schema = S.faces_schema(128)
    rows = pa.table({f.name: columns.get(f.name, pa.nulls(n, f.type)) for f in schema}).cast(schema)
    tables = FaceTables(dst, None, 128, REFERENCE_MODEL, "synthetic")
    for start in range(0, n, commit_rows):
        tables.commit(images.slice(start, commit_rows), rows.slice(start, commit_rows), [])
    tagged = [k for k in range(n) if k % FACES_A_PERSON == 0 and (person[k] % 2 == 0)]
    record_tags(
        dst,
        pa.table(
            {
                S.FACE_ID: [face_ids[k] for k in tagged],
                S.NAME: [f"{prefix}-person{person[k]}" for k in tagged],
                S.VERDICT: [S.VERDICT_TAG] * len(tagged),
            }
        ),
    )


def night(dst: str, config) -> dict[str, float]:
    seconds = {}
    for step, work in (
        ("cluster", lambda: cluster(dst, config)),
        ("dedup", lambda: deduplicate(dst, config)),
        ("tags", lambda: suggest_tags(dst, config)),
    ):
        started = time.perf_counter()
        work()
        seconds[step] = round(time.perf_counter() - started, 2)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--libraries", type=int, default=1000)
    parser.add_argument("--faces", type=int, default=20, help="photos (one face each) a library")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = load_config(None, ["dedup.exposure_residual=0"])
    figures = {"libraries": args.libraries, "faces_a_library": args.faces}
    with tempfile.TemporaryDirectory(prefix="facepipe-scope-overhead-") as scratch:
        for name, one in (("one_scope", True), ("a_scope_a_library", False)):
            dst = str(Path(scratch) / name)
            names = None if one else [f"owner{k:05d}" for k in range(args.libraries)]
            synthetic_store(dst, [args.faces] * args.libraries, args.seed, names)
            figures[name] = night(dst, config)
    figures["seconds_a_scope_adds"] = {
        step: round((figures["a_scope_a_library"][step] - figures["one_scope"][step]) / args.libraries, 4)
        for step in figures["one_scope"]
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
