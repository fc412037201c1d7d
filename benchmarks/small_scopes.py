"""Small libraries: how well a library of 20, 50 or 200 photos is clustered and named on its own, when it
calibrates for itself what a large one measures (the clustering's merge rule, from its own faces of
different people) against the same libraries clustered by the level of the whole collection (a prior).

    python -m benchmarks.small_scopes --lfw-tables DST --pins-tables DST [--libraries 30] [--seed 0]
        [--sizes 20 50 200] [--output DIR]

DST: LFW, and pins, embedded by `facepipe embed` (a photo's person is its folder). Per collection and
size, ``--libraries`` libraries are drawn (seeded; fewer when the collection lacks the photos): people
with 3 photos or more, in random order, each bringing up to a third of the library's photos, until the
library is full. All the libraries of a
collection go into one store, each its own scope (no circles); in each, half the people with 3 photos or
more are tagged on 1 or 2. One `cluster` and one `tags suggest` over the store give every library's own
figures. Beside them, each library's faces clustered with the merge rule of the whole collection's
different-person level (what a prior from the store would give). Prints one JSON object: per collection
and size, the BCubed F (central faces) of both, and the tag precision and coverage.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
from collections import defaultdict

import numpy as np
import pyarrow.compute as pc

from benchmarks.platform_scopes import draw_tags, embedded_collection, scores, write_store, write_tags
from pipeline import schema as S
from pipeline.config import load_config
from pipeline.evaluate.tags import central_face_persons
from pipeline.io.tables import read_table
from pipeline.metrics.clustering import clustering_metrics
from pipeline.people.calibration import MergeMargins, calibrated, rule_for
from pipeline.people.cluster_job import cluster
from pipeline.people.clustering import cluster_faces
from pipeline.tags.suggest_job import suggest_tags


def draw_libraries(persons: dict[str, str], size: int, count: int, rng: np.random.Generator) -> list[list[str]]:
    """``count`` libraries of ``size`` photos (uris), each photo in one library at most."""
    photos = defaultdict(list)
    for uri, person in sorted(persons.items()):
        photos[person].append(uri)
    people = [person for person, uris in sorted(photos.items()) if len(uris) >= 3]
    used: set[str] = set()
    libraries = []
    for _ in range(count):
        library: list[str] = []
        for person in rng.permutation(people):
            free = [uri for uri in photos[person] if uri not in used]
            take = min(len(free), max(3, size // 3), size - len(library))
            if take >= 3 or (take and library):
                library += list(rng.choice(free, take, replace=False))
            if len(library) >= size:
                break
        used.update(library)
        libraries.append(library)
    return libraries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw-tables", required=True)
    parser.add_argument("--pins-tables", required=True)
    parser.add_argument("--libraries", type=int, default=30, help="libraries per collection and size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 50, 200])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="where the stores are written (default: a scratch folder)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = load_config(None, [])
    settings = config.cluster.cluster_settings()
    margins = MergeMargins(settings.single_margin, settings.group_margin)
    root = args.output or tempfile.mkdtemp(prefix="facepipe-small-scopes-")
    figures: dict = {}
    for name, tables in (("lfw", args.lfw_tables), ("pins", args.pins_tables)):
        collection = embedded_collection(tables, name)
        images, faces, persons = collection
        level = calibrated(S.matrix(faces[S.EMBEDDING]), margins, settings.seed).impostor_level
        prior = rule_for(level, margins)
        figures[name] = {"collection_level": round(level, 4)}
        rng = np.random.default_rng(args.seed)
        for size in args.sizes:
            libraries = draw_libraries(persons, size, min(args.libraries, len(persons) // size), rng)
            library_of = {uri: f"{name}{size}-{k:03d}" for k, uris in enumerate(libraries) for uri in uris}
            dst = os.path.join(root, f"{name}-{size}")
            write_store(dst, [collection], library_of, {}, set(library_of.values()))
            stored_images, stored_faces = read_table(dst, S.IMAGES_TABLE), read_table(dst, S.FACES_TABLE)
            truth = central_face_persons(stored_images, stored_faces, persons)
            library_of_face = dict(zip(stored_faces[S.FACE_ID].to_pylist(), stored_faces[S.LIBRARY].to_pylist()))
            tags = draw_tags(truth, library_of_face, args.seed + size)
            write_tags(dst, tags)
            cluster(dst, config)
            suggest_tags(dst, config)
            own = scores(dst, truth, tags)
            with_prior = []
            for library in sorted(set(library_of.values())):
                rows = stored_faces.filter(pc.equal(stored_faces[S.LIBRARY], library))
                rows = rows.take(pc.sort_indices(rows[S.FACE_ID]))
                boxes = S.matrix(rows[S.BBOX])
                eligible = (
                    np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= config.cluster.min_face_side
                )
                labels = np.full(rows.num_rows, -1)
                found = cluster_faces(
                    S.matrix(rows[S.EMBEDDING])[eligible],
                    np.array(rows[S.IMAGE_ID].to_pylist())[eligible],
                    settings,
                    rule=prior,
                )
                labels[eligible] = found.labels
                labelled = [(c, truth[f]) for f, c in zip(rows[S.FACE_ID].to_pylist(), labels) if f in truth]
                with_prior.append(
                    clustering_metrics(np.array([c for c, _ in labelled]), np.array([p for _, p in labelled]))[
                        "bcubed_f"
                    ]
                )
            fs = [v["bcubed_f"] for v in own.values() if v["bcubed_f"] is not None]
            precisions = [v["tag_precision"] for v in own.values() if v["tag_precision"] is not None]
            coverages = [v["tag_coverage"] for v in own.values() if v["tag_coverage"] is not None]
            figures[name][str(size)] = {
                "libraries": len(own),
                "faces_median": int(np.median([v["faces"] for v in own.values()])),
                "bcubed_f_own_level": {"mean": round(float(np.mean(fs)), 4), "min": round(float(np.min(fs)), 4)},
                "bcubed_f_collection_level": {
                    "mean": round(float(np.mean(with_prior)), 4),
                    "min": round(float(np.min(with_prior)), 4),
                },
                "tag_precision": {
                    "mean": round(float(np.mean(precisions)), 4),
                    "min": round(float(np.min(precisions)), 4),
                }
                if precisions
                else None,
                "tag_coverage_mean": round(float(np.mean(coverages)), 4) if coverages else None,
                "suggestions": sum(v["suggestions"] for v in own.values()),
                "tags": len(tags),
            }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
