"""Clustering quality on labelled collections, side by side in one run: each method against the
photo-app DBSCAN baseline, on all labelled photos and on the people with two or more photos.

    python -m benchmarks.cluster_collections --tables lfw=DST --tables pins=DST2 [--methods graph hdbscan kmeans]
        [--set cluster.KEY=VALUE]

Each DST holds the embed job's tables over a collection laid out as <person>/<photo> (LFW's images/,
pins' images/): the label is the photo's folder. Each photo is represented by its face nearest the
centre. Prints one JSON object: per collection, subset and method, the metrics of `facepipe eval
cluster`, the seconds taken and the merge rule the graph method chose; and incremental runs against
a full clustering.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from pipeline import schema as S
from pipeline.config import load_config
from pipeline.ingest.main_face import central_faces_index
from pipeline.io.tables import TablesSnapshot
from pipeline.metrics.clustering import clustering_metrics
from pipeline.people.calibration import rule_from
from pipeline.people.clustering import cluster_faces, finish
from pipeline.people.incremental import NEW, assign_incrementally
from pipeline.search.knn_graph import knn_graph


def dbscan_baseline(vectors: np.ndarray, max_distance: float = 0.5, min_samples: int = 3, k: int = 64) -> np.ndarray:
    """The incremental DBSCAN scheme photo apps use: a face is a core face when at least
    ``min_samples`` faces (itself included, as DBSCAN counts) lie within cosine distance
    ``max_distance``; core faces within that distance of each other join one person; other faces
    join a core neighbour's person, or none."""
    similarities, neighbours = knn_graph(vectors, min(k, len(vectors) - 1))
    close = (similarities >= 1 - max_distance) & (neighbours >= 0)
    core = close.sum(axis=1) + 1 >= min_samples
    parent = np.arange(len(vectors))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in np.flatnonzero(core):
        for j in neighbours[i][close[i]]:
            if core[j]:
                parent[root(i)] = root(j)
    labels = np.full(len(vectors), -1)
    labels[core] = [root(i) for i in np.flatnonzero(core)]
    for i in np.flatnonzero(~core):
        joined = [j for j in neighbours[i][close[i]] if core[j]]
        if joined:
            labels[i] = labels[joined[0]]
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", required=True, action="append", metavar="NAME=DST", help="a collection's tables")
    parser.add_argument("--methods", nargs="+", default=["graph", "hdbscan", "kmeans"])
    parser.add_argument("--set", action="append", default=[], metavar="cluster.KEY=VALUE")
    args = parser.parse_args()
    config = load_config(None, args.set)
    figures: dict = {"config": config.cluster.model_dump()}
    for named in args.tables:
        name, tables = named.split("=", 1)
        figures[name] = _collection(tables, args.methods, config)
    print(json.dumps(figures))


def _collection(tables: str, methods: list[str], config) -> dict:
    """The figures of one collection (see the module docstring)."""
    snapshot = TablesSnapshot(tables)
    images, faces = snapshot.read(S.IMAGES_TABLE), snapshot.read(S.FACES_TABLE)
    central = central_faces_index(images, faces)
    uris = sorted(central)
    rows = np.array([central[u] for u in uris])
    vectors = S.matrix(faces[S.EMBEDDING])[rows]
    image_ids = np.array(faces[S.IMAGE_ID].to_pylist())[rows]
    people = np.array([Path(u).parent.name for u in uris])
    photos_per_person = Counter(Path(u).parent.name for u in images[S.URI].to_pylist())
    several = np.array([photos_per_person[p] >= 2 for p in people])
    figures: dict = {"photos": len(images), "photos_with_face": len(uris)}
    for subset, keep in (("all_photos", np.ones(len(uris), bool)), ("people_with_2_or_more", several)):
        figures[subset] = {"photos": int(keep.sum()), "people": len(set(people[keep]))}
        for method in ["dbscan_baseline", *methods]:
            started = time.perf_counter()
            chosen = {}
            if method == "dbscan_baseline":
                labels = finish(vectors[keep], dbscan_baseline(vectors[keep]), 2).labels
            else:
                settings = replace(config.cluster.cluster_settings(), method=method)
                clustering = cluster_faces(vectors[keep], image_ids[keep], settings, config.index.index_settings())
                labels, chosen = clustering.labels, clustering.merge_rule
            metrics = clustering_metrics(labels, people[keep])
            figures[subset][method] = {
                **{k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()},
                "seconds": round(time.perf_counter() - started, 1),
                **({"merge_rule": chosen} if chosen else {}),
            }
    figures["incremental"] = _incremental(vectors[several], image_ids[several], people[several], config)
    return figures


def _incremental(vectors: np.ndarray, image_ids: np.ndarray, people: np.ndarray, config) -> dict:
    """Cluster a seeded half of the photos, then add the other half incrementally; against a full
    clustering of everything, and whether any earlier cluster lost, gained-by-renumbering or changed id."""
    first = np.random.default_rng(config.cluster.seed).random(len(vectors)) < 0.5
    started = time.perf_counter()
    settings, index = config.cluster.cluster_settings(), config.index.index_settings()
    earlier = cluster_faces(vectors[first], image_ids[first], settings, index)
    previous = np.full(len(vectors), NEW)
    previous[first] = earlier.labels
    rule = rule_from(earlier.merge_rule)
    after = assign_incrementally(vectors, image_ids, previous, settings, rule, index).labels
    seconds = time.perf_counter() - started
    full = cluster_faces(vectors, image_ids, settings, index).labels
    scores = {name: clustering_metrics(labels, people) for name, labels in (("incremental", after), ("full", full))}
    kept = previous >= 0
    return {
        "photos_first": int(first.sum()),
        "photos_added": int((~first).sum()),
        "seconds": round(seconds, 1),
        **{
            f"{name}_{key}": round(value[key], 4)
            for name, value in scores.items()
            for key in ("bcubed_f", "pairwise_f")
        },
        "earlier_faces_moved": int(np.sum(after[kept] != previous[kept])),
    }


if __name__ == "__main__":
    main()
