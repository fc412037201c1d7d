"""The suggester: names for untagged faces from tagged ones, each with its estimated probability of being right.

The kNN graph of all faces (the clustering's sharded graph, as tasks here or on Ray), suspect tags left
out (pipeline.tags.suspects), names passed along the graph (pipeline.tags.propagation), each scored
from folds of the tags (pipeline.tags.scores), and the best kept while their expected precision stays
at tags.min_precision.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

import numpy as np

from pipeline.config import Config, TagsConfig
from pipeline.runtime.tasks import Tasks
from pipeline.search.knn_graph import knn_graph
from pipeline.tags.propagation import NO_NAME, Naming, propagate_names
from pipeline.tags.scores import ScoreTable, held_out_names, precision_cut, score_table
from pipeline.tags.suspects import suspect_tags


@dataclass(frozen=True)
class Suggested:
    """The suggestions: ``rows`` (the faces named), their ``scores``; how they came (``naming``, over all
    faces), the kNN graph (``similarities``, ``neighbours``), the tags used (``tags``: a name id per face), the rows of
    the ``suspects`` left out, the ``table`` the scores came from, the ``cut`` (names dropped by
    tags.min_precision) and the graph's seconds."""

    rows: np.ndarray
    scores: np.ndarray
    naming: Naming
    similarities: np.ndarray
    neighbours: np.ndarray
    tags: np.ndarray
    suspects: np.ndarray
    table: ScoreTable
    cut: int
    graph_seconds: float

    def evidence(self) -> list[list[int]]:
        """Per suggestion: the tagged face its name started from, then the other tagged faces of that
        name among the face's nearest."""
        lists = []
        for row in self.rows:
            name, seed = self.naming.name[row], self.naming.seed[row]
            near = [int(j) for j in self.neighbours[row] if j >= 0 and j != seed and self.tags[j] == name]
            lists.append([int(seed), *near])
        return lists

    def describe(self) -> dict:
        return {
            "suspect_tags_left_out": int(len(self.suspects)),
            "named_before_cut": int(len(self.rows) + self.cut),
            "cut_by_min_precision": self.cut,
            "expected_precision": round(float(self.scores.mean()), 4) if len(self.scores) else None,
            "scores": self.table.describe(),
            "graph_seconds": round(self.graph_seconds, 2),
        }


def suggest_names(
    vectors: np.ndarray,
    photos: np.ndarray,
    tags: np.ndarray,
    rejected,
    config: Config,
    prior: ScoreTable | None = None,
    graph: tuple[np.ndarray, np.ndarray] | None = None,
    tasks: Tasks | None = None,
) -> Suggested:
    """Suggest names for the faces (unit ``vectors`` of ``photos``, an integer id each) that ``tags``
    (a name id per face, NO_NAME for untagged) leaves untagged; ``rejected``: (face row, name id) pairs
    never to suggest; ``prior``: the model's score table measured beforehand (pipeline.tags.scores);
    ``graph``: the faces' kNN graph when it is at hand (else built here, on ``tasks``)."""
    settings = config.tags
    vectors = np.ascontiguousarray(vectors, np.float32)
    tags = np.asarray(tags, np.int64)
    tagged = np.flatnonzero(tags != NO_NAME)
    suspect = suspect_tags(vectors[tagged], tags[tagged], settings.same_person, settings.odd_one_out)
    trusted = tags.copy()
    trusted[tagged[suspect]] = NO_NAME
    started = time.perf_counter()
    if graph is None:
        reach = min(settings.similarity - settings.margin, settings.direct_similarity)
        k = graph_neighbours(settings, len(vectors))
        graph = knn_graph(vectors, k, config.index.index_settings(), reach, config.cluster.shard_faces, tasks)
    similarities, neighbours = graph
    graph_seconds = time.perf_counter() - started
    name_faces = partial(
        propagate_names, vectors, similarities, neighbours, photos=photos, config=settings, rejected=rejected
    )
    naming = name_faces(trusted)
    table = score_table(*held_out_names(trusted, name_faces, settings.folds), prior)
    rows = np.flatnonzero((naming.name != NO_NAME) & (tags == NO_NAME))
    scores = table.score(naming.direct[rows])
    keep = precision_cut(scores, settings.min_precision)
    return Suggested(
        rows[keep],
        scores[keep],
        naming,
        similarities,
        neighbours,
        trusted,
        tagged[suspect],
        table,
        int(np.sum(~keep)),
        graph_seconds,
    )


def graph_neighbours(settings: TagsConfig, faces: int) -> int:
    """How many neighbours the kNN graph of ``faces`` faces keeps per face."""
    return min(settings.neighbours, faces - 1)
