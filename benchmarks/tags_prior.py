"""The score table a model's suggestions fall back on: held-out tags of LFW named by the suggester, pooled
over several draws of the tagging protocol, written as pipeline/tags/priors/<model>.json.

    python -m benchmarks.tags_prior --tables DST [--seeds 0-9] [--output pipeline/tags/priors]

DST holds LFW embedded by `facepipe embed` with the model. Each draw of benchmarks.tags_protocol tags
LFW's central faces; the suggester's folds hide each tag in turn (pipeline.tags.scores.held_out_names)
and the names given back, right or not, from every draw make one table (pipeline.tags.scores.score_table,
no prior). Prints the record as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from functools import partial
from pathlib import Path

import numpy as np

from benchmarks.tags_lfw import load_lfw_faces
from benchmarks.tags_protocol import draw_tags
from pipeline.config import load_config
from pipeline.search.knn_graph import knn_graph
from pipeline.tags.propagation import NO_NAME, propagate_names
from pipeline.tags.scores import PRIORS, held_out_names, prior_file, score_table
from pipeline.tags.suggest_job import suggest_rules
from pipeline.tags.suspects import suspect_tags


def measure_prior(dst: str, seeds: list[int]) -> dict:
    config = load_config(None, [])
    settings = config.tags
    lfw = load_lfw_faces(dst)
    rules, _ = suggest_rules(config, lfw.model)
    vectors = np.ascontiguousarray(lfw.embeddings, np.float32)
    graph = knn_graph(vectors, settings.neighbours, config.index.index_settings())
    row_of = {face: i for i, face in enumerate(lfw.face_ids)}
    direct, right = [], []
    for seed in seeds:
        tagged = draw_tags(lfw.faces_by_person, seed).tags
        names = {name: i for i, name in enumerate(sorted(set(tagged.values())))}
        tags = np.full(len(vectors), NO_NAME, np.int64)
        rows = np.array([row_of[face] for face in tagged])
        tags[rows] = [names[tagged[face]] for face in tagged]
        suspect = suspect_tags(vectors[rows], tags[rows], rules.suspects)
        tags[rows[suspect]] = NO_NAME
        name_faces = partial(propagate_names, vectors, *graph, photos=lfw.photos, rule=rules.naming)
        found = held_out_names(tags, name_faces, rules.folds, seed)
        direct.append(found[0])
        right.append(found[1])
    table = score_table(np.concatenate(direct), np.concatenate(right))
    return {
        "model": lfw.model,
        "source": f"LFW at {dst}: held-out tags of the protocol's draws {seeds}, {config.tags.folds} folds each",
        "held_out_names": int(sum(len(d) for d in direct)),
        "right": int(sum(r.sum() for r in right)),
        "settings": settings.model_dump(),
        "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "command": " ".join(["python -m benchmarks.tags_prior", *sys.argv[1:]]),
        "table": table.describe(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", required=True, help="LFW embedded by `facepipe embed` (the DST)")
    parser.add_argument("--seeds", default="0-9", help="draws of the protocol: FIRST-LAST")
    parser.add_argument("--output", type=Path, default=Path(str(PRIORS)), help="folder of the priors")
    args = parser.parse_args()
    first, last = (int(x) for x in args.seeds.split("-"))
    record = measure_prior(args.tables, list(range(first, last + 1)))
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / prior_file(record["model"])).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))


if __name__ == "__main__":
    main()
