"""One store of many libraries and circles against each scope alone: LFW's and pins' embedded photos split
into owners' libraries, clustered and named in one nightly run over the whole store, then each scope's photos
written to a store of their own and clustered and named there. Per scope, the clustering's F and the tag
suggestions' precision and coverage in both; and over the whole store, the suggestions whose name was
tagged only in libraries the face's library shares no circle with (must be zero).

    python -m benchmarks.platform_scopes --lfw-tables DST --pins-tables DST [--libraries 60] [--circles 10]
        [--seed 0] [--output DIR]

DST: LFW, and pins, embedded by `facepipe embed` (a photo's person is its folder). The split, seeded:
- circles of 2 to 4 libraries, some libraries in two circles, a quarter in none;
- each person has a home library; a person at home in a circle has half their photos spread over the
  circle's other libraries (people a family shares), and the people with the most photos (public
  figures) have some in libraries anywhere, circle or not;
- in each library, half the people with 3 photos or more there are tagged on 1 or 2 photos.
The rows are the embedded ones (real embeddings), written through the tables writer with their library.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from collections import Counter, defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import schema as S
from pipeline.config import load_config
from pipeline.evaluate.tags import central_face_persons, score_tags
from pipeline.io.circles import read_circles, scopes, set_circle
from pipeline.io.tables import FaceTables, TablesSnapshot, read_table
from pipeline.io.tags_table import record_tags
from pipeline.metrics.clustering import clustering_metrics
from pipeline.nightly_job import nightly
from pipeline.people.cluster_job import cluster
from pipeline.tags.suggest_job import suggest_tags

PUBLIC_FIGURES = 20  # the people with the most photos: some of their photos in libraries anywhere


def embedded_collection(tables: str, name: str) -> tuple[pa.Table, pa.Table, dict[str, str]]:
    """(images, faces, uri -> person) of an embedded collection; persons prefixed with ``name``."""
    images, faces = read_table(tables, S.IMAGES_TABLE), read_table(tables, S.FACES_TABLE)
    persons = {uri: f"{name}/{os.path.basename(os.path.dirname(uri))}" for uri in images[S.URI].to_pylist()}
    return images, faces, persons


def _circles(libraries: list[str], count: int, rng: np.random.Generator) -> dict[str, list[str]]:
    """``count`` circles of 2-4 libraries over three quarters of ``libraries``, a fifth of them in two."""
    members = list(rng.permutation(libraries[: len(libraries) * 3 // 4]))
    circles: dict[str, list[str]] = {f"circle{c:02d}": [] for c in range(count)}
    for k, library in enumerate(members):
        circles[f"circle{k % count:02d}"].append(library)
    for library in members[: len(members) // 5]:  # a second circle for some
        other = f"circle{int(rng.integers(count)):02d}"
        if library not in circles[other]:
            circles[other].append(library)
    return {circle: sorted(found) for circle, found in circles.items() if len(found) >= 2}


def split(persons: dict[str, str], libraries: int, circles: int, seed: int):
    """(uri -> library, circle -> libraries)."""
    rng = np.random.default_rng(seed)
    names = [f"owner{k:03d}" for k in range(libraries)]
    made = _circles(names, circles, rng)
    circle_of = defaultdict(list)
    for circle, members in made.items():
        for library in members:
            circle_of[library].append(circle)
    photos = defaultdict(list)
    for uri, person in sorted(persons.items()):
        photos[person].append(uri)
    public = {person for person, _ in Counter({p: len(u) for p, u in photos.items()}).most_common(PUBLIC_FIGURES)}
    library_of = {}
    for person in sorted(photos):
        home = names[int(rng.integers(libraries))]
        shared = sorted({m for c in circle_of[home] for m in made[c]} - {home})
        for uri in photos[person]:
            draw = rng.random()
            if person in public and draw < 0.3:
                library_of[uri] = names[int(rng.integers(libraries))]
            elif shared and draw < 0.5:
                library_of[uri] = shared[int(rng.integers(len(shared)))]
            else:
                library_of[uri] = home
    return library_of, made


def write_store(dst: str, collections, library_of: dict[str, str], circles: dict[str, list[str]], keep: set[str]):
    """A store at ``dst`` of the photos of the libraries ``keep`` (and the circles among them)."""
    first_faces = collections[0][1]
    models = {"model": first_faces[S.MODEL][0].as_py(), "detector": first_faces[S.DETECTOR][0].as_py()}
    writer = FaceTables(dst, None, S.matrix(first_faces[S.EMBEDDING]).shape[1], models["model"], models["detector"])
    for library in sorted(keep):
        for images, faces, _ in collections:
            mine = pa.array([uri for uri in images[S.URI].to_pylist() if library_of.get(uri) == library], pa.string())
            rows = images.filter(pc.is_in(images[S.URI], value_set=mine))
            if not rows.num_rows:
                continue
            face_rows = faces.filter(pc.is_in(faces[S.URI], value_set=mine))
            writer.commit(_labelled(rows, library), _labelled(face_rows, library), [])
    for circle, members in circles.items():
        if set(members) <= keep:
            set_circle(dst, circle, members)


def _labelled(rows: pa.Table, library: str) -> pa.Table:
    """``rows`` of ``library``."""
    return rows.set_column(
        rows.schema.get_field_index(S.LIBRARY), S.LIBRARY, pa.array([library] * rows.num_rows, pa.string())
    )


def write_tags(dst: str, tags: dict[str, str]) -> None:
    """Tag each face of ``tags`` (face id -> name) in the store at ``dst``."""
    record_tags(dst, pa.table({S.FACE_ID: list(tags), S.NAME: list(tags.values()), S.VERDICT: ["tag"] * len(tags)}))


def draw_tags(truth: dict[str, str], library_of_face: dict[str, str], seed: int) -> dict[str, str]:
    """face id -> name: in each library, half the people with 3 central faces or more there, 1 or 2 each."""
    rng = np.random.default_rng(seed + 1)
    by_library = defaultdict(lambda: defaultdict(list))
    for face, person in sorted(truth.items()):
        by_library[library_of_face[face]][person].append(face)
    tags = {}
    for library in sorted(by_library):
        for person, faces in sorted(by_library[library].items()):
            if len(faces) >= 3 and rng.random() < 0.5:
                for face in rng.choice(faces, int(rng.integers(1, 3)), replace=False):
                    tags[str(face)] = person.split("/", 1)[1]
    return tags


def scores(dst: str, truth: dict[str, str], tags: dict[str, str]) -> dict[str, dict]:
    """Per scope: clustering BCubed F over the central faces, tag precision and coverage."""
    clusters, suggestions = read_table(dst, S.CLUSTERS_TABLE), read_table(dst, S.SUGGESTIONS_TABLE)
    found = {}
    for scope in sorted(set(clusters[S.SCOPE].to_pylist())):
        rows = clusters.filter(pc.equal(clusters[S.SCOPE], scope))
        pairs = zip(rows[S.FACE_ID].to_pylist(), rows[S.CLUSTER_ID].to_pylist())
        labelled = [(c, truth[f]) for f, c in pairs if f in truth]
        named = suggestions.filter(pc.equal(suggestions[S.SCOPE], scope))
        predicted = dict(zip(named[S.FACE_ID].to_pylist(), named[S.NAME].to_pylist()))
        faces = set(rows[S.FACE_ID].to_pylist())
        scope_truth = {f: truth[f].split("/", 1)[1] for f in faces if f in truth}
        metrics = score_tags(scope_truth, {f: n for f, n in tags.items() if f in faces}, predicted)
        f = None
        if labelled:
            f = clustering_metrics(np.array([c for c, _ in labelled]), np.array([p for _, p in labelled]))["bcubed_f"]
        found[scope] = {
            "faces": len(faces),
            "bcubed_f": round(f, 6) if f is not None else None,
            "tag_precision": metrics.get("precision"),
            "tag_coverage": metrics.get("coverage"),
            "suggestions": len(predicted),
        }
    return found


def leaks(dst: str, tags: dict[str, str]) -> int:
    """Suggestions whose name no library visible to the face's library (its own, those it shares a circle
    with) tagged."""
    snapshot = TablesSnapshot(dst)
    circles = read_circles(snapshot)
    faces = read_table(dst, S.FACES_TABLE)
    library_of_face = dict(zip(faces[S.FACE_ID].to_pylist(), faces[S.LIBRARY].to_pylist()))
    names_in = defaultdict(set)
    for face, name in tags.items():
        names_in[library_of_face[face]].add(name)
    visible = defaultdict(set)
    for library in set(library_of_face.values()):
        visible[library] = {library} | {m for members in circles.values() if library in members for m in members}
    count = 0
    for row in read_table(dst, S.SUGGESTIONS_TABLE).to_pylist():
        if not any(row[S.NAME] in names_in[other] for other in visible[row[S.LIBRARY]]):
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw-tables", required=True)
    parser.add_argument("--pins-tables", required=True)
    parser.add_argument("--libraries", type=int, default=60)
    parser.add_argument("--circles", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="where the stores are written (default: a scratch folder)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = load_config(None, [])
    collections = [embedded_collection(args.lfw_tables, "lfw"), embedded_collection(args.pins_tables, "pins")]
    persons = {uri: person for _, _, found in collections for uri, person in found.items()}
    library_of, circles = split(persons, args.libraries, args.circles, args.seed)
    root = args.output or tempfile.mkdtemp(prefix="facepipe-platform-")
    store = os.path.join(root, "store")
    started = time.perf_counter()
    write_store(store, collections, library_of, circles, set(library_of.values()))
    images, faces = read_table(store, S.IMAGES_TABLE), read_table(store, S.FACES_TABLE)
    truth = central_face_persons(images, faces, persons)
    library_of_face = dict(zip(faces[S.FACE_ID].to_pylist(), faces[S.LIBRARY].to_pylist()))
    tags = draw_tags(truth, library_of_face, args.seed)
    write_tags(store, tags)
    written = time.perf_counter() - started
    started = time.perf_counter()
    night = nightly(root, store, load_config(None, ["nightly.steps=[cluster,tags]"]))  # one night of the store
    steps = {step["step"]: step for step in night.steps}
    whole_seconds = time.perf_counter() - started
    together = scores(store, truth, tags)
    alone, alone_seconds = {}, 0.0
    libraries = set(library_of.values())
    for scope in scopes(circles, libraries):
        dst = os.path.join(root, "alone", scope.name.replace("/", "-"))
        keep = set(scope.libraries)
        own = {c: members for c, members in circles.items() if f"circle/{c}" == scope.name}
        write_store(dst, collections, library_of, own, keep)
        write_tags(dst, {face: name for face, name in tags.items() if library_of_face[face] in keep})
        began = time.perf_counter()
        cluster(dst, config)
        suggest_tags(dst, config)
        alone_seconds += time.perf_counter() - began
        alone.update(scores(dst, truth, tags))
    differences = {
        key: max(abs((together[s][key] or 0) - (alone[s][key] or 0)) for s in together)
        for key in ("bcubed_f", "tag_precision", "tag_coverage", "suggestions", "faces")
    }
    sizes = sorted(v["faces"] for v in together.values())
    memberships = Counter(member for members in circles.values() for member in members)
    print(
        json.dumps(
            {
                "libraries": len(libraries),
                "circles": len(circles),
                "libraries_in_two_circles": sum(1 for n in memberships.values() if n > 1),
                "libraries_in_no_circle": len(libraries - set(memberships)),
                "photos": images.num_rows,
                "faces": faces.num_rows,
                "tags": len(tags),
                "scopes": len(together),
                "scope_faces": {"min": sizes[0], "median": sizes[len(sizes) // 2], "max": sizes[-1]},
                "largest_difference_store_vs_alone": differences,
                "suggestions_from_outside_the_circles": leaks(store, tags),
                "store": {"clusters": steps["cluster"]["clusters"], "suggestions": steps["tags"]["suggestions"]},
                "seconds": {
                    "write": round(written, 1),
                    "whole_store": round(whole_seconds, 1),
                    "each_scope_alone": round(alone_seconds, 1),
                },
                "per_scope": {s: {"together": together[s], "alone": alone[s]} for s in together},
            }
        )
    )


if __name__ == "__main__":
    main()
