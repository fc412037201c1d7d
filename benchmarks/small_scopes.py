"""Small libraries: how well a library of 20, 50 or 200 photos is clustered and named on its own. A
library calibrates for itself how alike two faces of different people are; a small one mostly of one
person would measure that person's faces, so a scope of fewer than cluster.small_scope_faces faces
measures it at most at the model's level. Its clustering with the cap (the default) and without.

    python -m benchmarks.small_scopes --lfw-tables DST --pins-tables DST [--libraries 30] [--seed 0]
        [--sizes 20 50 200] [--output DIR]

DST: LFW, and pins, embedded by `facepipe embed` (a photo's person is its folder). Per collection, size
and kind, ``--libraries`` libraries are drawn (seeded; fewer when the collection lacks the photos) from
people with 3 photos or more, in random order, until the library is full: "mixed", each person bringing
up to a third of the library; "one_person", one person bringing 60% (where someone has that many
photos). All the libraries of a draw go into one store, each its own scope (no circles); in each, half
the people with 3 photos or more are tagged on 1 or 2. One `cluster` (with the cap, and again without)
and one `tags suggest` over the store give every library's figures. Prints one JSON object: per
collection, size and kind, the BCubed F (central faces) with and without the cap, and the tag precision
and coverage.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
from collections import defaultdict

import numpy as np

from benchmarks.platform_scopes import draw_tags, embedded_collection, scores, write_store, write_tags
from pipeline import schema as S
from pipeline.config import load_config
from pipeline.evaluate.tags import central_face_persons
from pipeline.io.tables import read_table
from pipeline.people.cluster_job import cluster
from pipeline.tags.suggest_job import suggest_tags


def draw_libraries(
    persons: dict[str, str], size: int, count: int, rng: np.random.Generator, dominant: float = 0.0
) -> list[list[str]]:
    """``count`` libraries of ``size`` photos (uris), each photo in one library at most; with ``dominant``,
    the first person of each brings that share of its photos (libraries for which no one is left that has
    so many are not drawn)."""
    photos = defaultdict(list)
    for uri, person in sorted(persons.items()):
        photos[person].append(uri)
    people = [person for person, uris in sorted(photos.items()) if len(uris) >= 3]
    used: set[str] = set()
    libraries = []
    for _ in range(count):
        library: list[str] = []
        first = round(dominant * size)
        if first:
            free = {p: [u for u in photos[p] if u not in used] for p in people}
            able = [p for p in people if len(free[p]) >= first]
            if not able:
                break
            library += list(rng.choice(free[able[int(rng.integers(len(able)))]], first, replace=False))
        for person in rng.permutation(people):
            free_of = [uri for uri in photos[person] if uri not in used and uri not in library]
            take = min(len(free_of), max(3, size // 3), size - len(library))
            if take >= 3 or (take and library):
                library += list(rng.choice(free_of, take, replace=False))
            if len(library) >= size:
                break
        used.update(library)
        libraries.append(library)
    return libraries


def _f_means(found: dict) -> dict:
    fs = [v["bcubed_f"] for v in found.values() if v["bcubed_f"] is not None]
    return {"mean": round(float(np.mean(fs)), 4), "min": round(float(np.min(fs)), 4)}


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
    config, uncapped = load_config(None, []), load_config(None, ["cluster.small_scope_faces=0"])
    root = args.output or tempfile.mkdtemp(prefix="facepipe-small-scopes-")
    figures: dict = {}
    for name, tables in (("lfw", args.lfw_tables), ("pins", args.pins_tables)):
        collection = embedded_collection(tables, name)
        _, _, persons = collection
        rng = np.random.default_rng(args.seed)
        figures[name] = {}
        for size in args.sizes:
            for kind, dominant in (("mixed", 0.0), ("one_person", 0.6)):
                count = min(args.libraries, len(persons) // size)
                libraries = [lib for lib in draw_libraries(persons, size, count, rng, dominant) if lib]
                if not libraries:
                    continue
                library_of = {uri: f"{name}{size}{kind}-{k:03d}" for k, uris in enumerate(libraries) for uri in uris}
                dst = os.path.join(root, f"{name}-{size}-{kind}")
                write_store(dst, [collection], library_of, {}, set(library_of.values()))
                images, faces = read_table(dst, S.IMAGES_TABLE), read_table(dst, S.FACES_TABLE)
                truth = central_face_persons(images, faces, persons)
                library_of_face = dict(zip(faces[S.FACE_ID].to_pylist(), faces[S.LIBRARY].to_pylist()))
                tags = draw_tags(truth, library_of_face, args.seed + size)
                write_tags(dst, tags)
                suggest_tags(dst, config)  # names do not depend on the people found
                cluster(dst, uncapped)
                without = scores(dst, truth, tags)
                cluster(dst, config)
                found = scores(dst, truth, tags)
                precisions = [v["tag_precision"] for v in found.values() if v["tag_precision"] is not None]
                coverages = [v["tag_coverage"] for v in found.values() if v["tag_coverage"] is not None]
                figures[name][f"{size} {kind}"] = {
                    "libraries": len(found),
                    "faces_median": int(np.median([v["faces"] for v in found.values()])),
                    "bcubed_f_capped": _f_means(found),
                    "bcubed_f_uncapped": _f_means(without),
                    "tag_precision_mean": round(float(np.mean(precisions)), 4) if precisions else None,
                    "tag_coverage_mean": round(float(np.mean(coverages)), 4) if coverages else None,
                    "suggestions": sum(v["suggestions"] for v in found.values()),
                    "tags": len(tags),
                }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
