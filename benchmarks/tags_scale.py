"""Tag suggestions' time and memory at scale on seeded synthetic face-like embeddings.

    python -m benchmarks.tags_scale --faces 1000000 [--seed 0] [--set tags.KEY=VALUE]
    python -m benchmarks.tags_scale --faces 1000000 --nodes 2 --set tags.distributed=true   # graph on Ray tasks

Faces: identities with 1 to 50 faces each plus 5% faces of nobody (pipeline.evaluate.synthetic), one
photo each; tags drawn by the LFW protocol (benchmarks.tags_protocol: three quarters of the people with
two faces or more tagged 1, 1, 2, 3, 5 or 10 times, 1% of the tags naming someone else). Prints one
JSON object: the counts, the seconds of the kNN graph and of the whole suggester (graph, suspect tags,
propagation, the folds that score), the peak memory of the process, and precision, coverage and false
alarm against the identities the vectors were drawn from.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import time

import numpy as np

from benchmarks.cluster_scale import _start_local_cluster
from benchmarks.tags_protocol import draw_tags
from pipeline.config import load_config
from pipeline.evaluate.synthetic import face_like_embeddings
from pipeline.metrics.tags import tag_metrics
from pipeline.runtime.ray_tasks import RayTasks
from pipeline.similarity.thresholds import REFERENCE_MODEL
from pipeline.tags.propagation import NO_NAME
from pipeline.tags.scores import shipped_prior
from pipeline.tags.suggest_job import suggest_rules, suggestion_graph
from pipeline.tags.suggester import suggest_names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=100_000, help="about this many faces (identities = faces / 26)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the faces and of the tags")
    parser.add_argument("--nodes", type=int, default=2, help="with tags.distributed: local Ray nodes")
    parser.add_argument("--set", action="append", default=[], metavar="tags.KEY=VALUE")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")  # progress on stderr
    config = load_config(None, args.set)
    identities = args.faces // 26
    data = face_like_embeddings(identities, noise_faces=int(identities * 25.5 * 0.05), seed=args.seed)
    faces_by_person: dict[str, list[str]] = {}
    for row in np.flatnonzero(data.labels >= 0):
        faces_by_person.setdefault(str(data.labels[row]), []).append(str(row))
    protocol = draw_tags(faces_by_person, args.seed)
    names = sorted(set(protocol.tags.values()))
    name_id = {name: i for i, name in enumerate(names)}
    tags = np.full(len(data.vectors), NO_NAME, np.int64)
    tags[[int(face) for face in protocol.tags]] = [name_id[name] for name in protocol.tags.values()]
    tasks = None
    if config.tags.distributed:
        _start_local_cluster(args.nodes)
        tasks = RayTasks()
    started = time.perf_counter()
    photos = np.arange(len(data.vectors))
    rules, _ = suggest_rules(config, REFERENCE_MODEL)
    graph = suggestion_graph(data.vectors, rules, config, tasks)
    graph_seconds = time.perf_counter() - started
    found = suggest_names(data.vectors, photos, tags, [], graph, rules, shipped_prior(REFERENCE_MODEL))
    seconds = time.perf_counter() - started
    truth = {str(row): str(label) if label >= 0 else f"nobody-{row}" for row, label in enumerate(data.labels)}
    predicted = {str(row): names[found.naming.name[row]] for row in found.rows}
    tags_per_person: dict[str, int] = {}
    for face in protocol.tags:
        tags_per_person[truth[face]] = tags_per_person.get(truth[face], 0) + 1
    metrics = tag_metrics(truth, set(names) | set(tags_per_person), tags_per_person, set(protocol.tags), predicted)
    described = found.describe()
    print(
        json.dumps(
            {
                "faces": len(data.vectors),
                "identities": identities,
                "tags": len(protocol.tags),
                "wrong_tags": len(protocol.wrong),
                "suggestions": len(found.rows),
                "graph_seconds": round(graph_seconds, 2),
                "seconds": round(seconds, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "distributed": config.tags.distributed,
                **{key: described[key] for key in ("suspect_tags_left_out", "cut_by_min_precision")},
                **{key: round(metrics[key], 4) for key in ("precision", "coverage", "false_alarm")},
            }
        )
    )


if __name__ == "__main__":
    main()
