"""Suggested names on LFW under the seeded tagging protocol: each method's precision, coverage, false alarm.

    python -m benchmarks.tags_lfw --tables DST [--seed 0] [--output FOLDER] [--wrong-share 0.01]

DST holds LFW embedded by `facepipe embed` (each photo's person is its folder). benchmarks.tags_protocol
draws the known people, their tagged photos (each photo's central face) and the wrongly named tags;
each method of METHODS (facepipe's suggester, the two rules of benchmarks.tags_baselines)
names the untagged faces from the tagged ones, and pipeline.evaluate.tags
scores the names on every photo's central face. Prints one JSON object: the protocol's counts, the
headline figures side by side (``side_by_side``, ``by_tags_per_person``) and each method's full
metrics and seconds. With --output, writes the draw as FOLDER/tags.csv (face_id,name) and
FOLDER/truth.csv (uri,person).

A method is one entry of METHODS: a function of the tagged collection (TaggedFaces: the labelled faces,
the tags) returning face id -> name for the faces it names.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from benchmarks.tags_baselines import name_untagged_faces, nearest_tagged_name, weighted_vote_name
from benchmarks.tags_protocol import WRONG_SHARE, draw_tags, lfw_person, write_protocol
from pipeline import schema as S
from pipeline.config import load_config
from pipeline.evaluate.tags import central_face_persons, score_tags
from pipeline.io.tables import TablesSnapshot
from pipeline.metrics.tags import BUCKETS
from pipeline.tags.propagation import NO_NAME
from pipeline.tags.scores import shipped_prior
from pipeline.tags.suggest_job import suggest_rules, suggestion_graph
from pipeline.tags.suggester import suggest_names

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelledFaces:
    """LFW (or a collection laid out like it) as embedded at ``dst``: every face's id, photo (an integer
    id) and (L2-normalised) embedding, the embedding ``model``, each labelled photo's person (``persons``:
    uri -> person) and the person of each photo's central face (``truth``: face id -> person)."""

    dst: str
    face_ids: list[str]
    photos: np.ndarray
    embeddings: np.ndarray
    model: str
    persons: dict[str, str]
    truth: dict[str, str]

    @property
    def faces_by_person(self) -> dict[str, list[str]]:
        """person -> the central faces of their photos."""
        faces: dict[str, list[str]] = {}
        for face, person in self.truth.items():
            faces.setdefault(person, []).append(face)
        return faces


def load_lfw_faces(dst: str) -> LabelledFaces:
    """The faces of the tables at ``dst``, each photo's person its folder's name."""
    config = load_config(None, [])
    snapshot = TablesSnapshot(dst, config.resolved_storage())
    images = snapshot.read(S.IMAGES_TABLE, [S.URI, S.WIDTH, S.HEIGHT])
    columns = [S.FACE_ID, S.IMAGE_ID, S.URI, S.BBOX, S.MODEL, S.EMBEDDING]
    faces = snapshot.faces().read(columns)
    models = set(faces[S.MODEL].to_pylist())
    if len(models) != 1:
        raise ValueError(f"the benchmark takes the faces of one model, {dst} holds {sorted(models)}")
    persons = {uri: lfw_person(uri) for uri in images[S.URI].to_pylist()}
    return LabelledFaces(
        dst,
        faces[S.FACE_ID].to_pylist(),
        np.unique(np.array(faces[S.IMAGE_ID].to_pylist()), return_inverse=True)[1],
        S.matrix(faces[S.EMBEDDING]),
        models.pop(),
        persons,
        central_face_persons(images, faces, persons),
    )


@dataclass(frozen=True)
class TaggedFaces:
    """The labelled faces and ``tags`` (face id -> name) drawn on them."""

    faces: LabelledFaces
    tags: Mapping[str, str]


Method = Callable[[TaggedFaces], Mapping[str, str]]


def _rule(rule, collection: TaggedFaces) -> Mapping[str, str]:
    return name_untagged_faces(collection.faces.face_ids, collection.faces.embeddings, collection.tags, rule)


def _facepipe(collection: TaggedFaces) -> Mapping[str, str]:
    """pipeline.tags.suggester with the default configuration (carried to the model by the threshold
    service) and the model's shipped prior."""
    faces, names = collection.faces, sorted(set(collection.tags.values()))
    name_id = {name: i for i, name in enumerate(names)}
    tags = np.array([name_id.get(collection.tags.get(face), NO_NAME) for face in faces.face_ids], np.int64)
    config = load_config(None, [])
    rules, _ = suggest_rules(config, faces.model)
    graph = suggestion_graph(faces.embeddings, rules, config)
    found = suggest_names(faces.embeddings, faces.photos, tags, [], graph, rules, shipped_prior(faces.model))
    return {faces.face_ids[r]: names[found.naming.name[r]] for r in found.rows}


METHODS: dict[str, Method] = {
    "facepipe": _facepipe,
    "nearest_within_0.5": partial(_rule, nearest_tagged_name),  # a popular self-hosted app's rule
    "vote_of_5_within_0.5": partial(_rule, weighted_vote_name),  # a popular desktop app's recogniser
}


def names_from_wrong_tags(truth: Mapping[str, str], wrong: Mapping[str, str], predicted: Mapping[str, str]) -> int:
    """How many faces are given the wrong name that a tag on another photo of their person carries
    (a mistaken tag spreading to the person's other photos)."""
    spread = {(truth[face], name) for face, name in wrong.items() if face in truth}
    return sum(
        1
        for face, name in predicted.items()
        if face in truth and face not in wrong and name != truth[face] and (truth[face], name) in spread
    )


def run_benchmark(dst: str, seed: int, output: Path | None = None, wrong_share: float = WRONG_SHARE) -> dict:
    """The protocol drawn with ``seed`` on the LFW tables at ``dst``, every method of METHODS scored."""
    lfw = load_lfw_faces(dst)
    truth, faces_by_person = lfw.truth, lfw.faces_by_person
    protocol = draw_tags(faces_by_person, seed, wrong_share=wrong_share)
    tagged_counts = Counter(truth[face] for face in protocol.tags)
    counts = {
        "photos": len(lfw.persons),
        "faces": len(lfw.face_ids),
        "scored_faces": len(truth),
        "people": len(faces_by_person),
        "people_with_2_photos": protocol.eligible,
        "known_people": len(protocol.known),
        "never_tagged_people": len(faces_by_person) - len(protocol.known),
        "tags": len(protocol.tags),
        "wrong_tags": len(protocol.wrong),
        "known_people_by_tags": dict(sorted(Counter(tagged_counts.values()).items())),
    }
    if output is not None:
        tags_csv, truth_csv = write_protocol(protocol, lfw.persons, output)
        counts["files"] = {"tags": str(tags_csv), "truth": str(truth_csv)}
    collection = TaggedFaces(lfw, protocol.tags)
    results = {}
    for name, method in METHODS.items():
        started = time.perf_counter()
        predicted = method(collection)
        seconds = time.perf_counter() - started
        results[name] = {
            **score_tags(truth, protocol.tags, predicted),
            "names_from_wrong_tags": names_from_wrong_tags(truth, protocol.wrong, predicted),
            "seconds": seconds,
        }
        log.info("%s: precision %.4f, coverage %.4f", name, results[name]["precision"], results[name]["coverage"])
    headline = ("precision", "coverage", "false_alarm")
    return {
        "tables": dst,
        "seed": seed,
        "wrong_share": wrong_share,
        "protocol": counts,
        "side_by_side": {name: {key: m[key] for key in headline} for name, m in results.items()},
        "by_tags_per_person": {
            bucket: {
                name: {key: m["by_tags_per_person"][bucket][key] for key in headline} for name, m in results.items()
            }
            for bucket in BUCKETS
        },
        "methods": results,
    }


def _rounded(value):
    """``value`` with every float rounded to 4 decimals (nested dicts too)."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", required=True, help="LFW embedded by `facepipe embed` (the DST)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the protocol's draw")
    parser.add_argument("--output", type=Path, help="folder for the draw's tags.csv and truth.csv")
    parser.add_argument("--wrong-share", type=float, default=WRONG_SHARE, help="share of tags with a wrong name")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")  # progress on stderr
    print(json.dumps(_rounded(run_benchmark(args.tables, args.seed, args.output, args.wrong_share))))


if __name__ == "__main__":
    main()
