"""The suggester: names for untagged faces from tagged ones, each with its estimated probability of being right.

On the kNN graph of all faces (built or kept by the suggest job), suspect tags left out
(pipeline.tags.suspects), names passed along the graph (pipeline.tags.propagation), each scored from
folds of the tags (pipeline.tags.scores), and the best kept while their expected precision stays at
``min_precision``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from pipeline.tags.propagation import NO_NAME, Naming, NamingRule, propagate_names
from pipeline.tags.scores import ScoreTable, held_out_names, precision_cut, score_table
from pipeline.tags.suspects import SuspectRule, suspect_tags


@dataclass(frozen=True)
class SuggestRules:
    """How names are suggested: how they travel (``naming``), which tags are left out (``suspects``), the
    cross-validation ``folds`` that score them and the ``min_precision`` the suggestions kept hold."""

    naming: NamingRule
    suspects: SuspectRule
    folds: int
    min_precision: float

    def graph_reach(self) -> float:
        """The least similarity a name travels at: the kNN graph's recall need not count neighbours below it."""
        return min(self.naming.similarity - self.naming.margin, self.naming.direct_similarity)


@dataclass(frozen=True)
class Suggested:
    """The suggestions: ``rows`` (the faces named), their ``scores``; how they came (``naming``, over all
    faces), the kNN graph (``similarities``, ``neighbours``), the tags used (``tags``: a name id per face), the rows of
    the ``suspects`` left out, the ``table`` the scores came from and the ``cut`` (names dropped by
    min_precision)."""

    rows: np.ndarray
    scores: np.ndarray
    naming: Naming
    similarities: np.ndarray
    neighbours: np.ndarray
    tags: np.ndarray
    suspects: np.ndarray
    table: ScoreTable
    cut: int

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
        }


def suggest_names(
    vectors: np.ndarray,
    photos: np.ndarray,
    tags: np.ndarray,
    rejected,
    graph: tuple[np.ndarray, np.ndarray],
    rules: SuggestRules,
    prior: ScoreTable | None = None,
) -> Suggested:
    """Suggest names by ``rules`` for the faces (unit ``vectors`` of ``photos``, an integer id each) that
    ``tags`` (a name id per face, NO_NAME for untagged) leaves untagged; ``rejected``: (face row, name id)
    pairs never to suggest; ``graph``: the faces' kNN graph (similarities, neighbours: at least
    graph_neighbours of them, found down to rules.graph_reach()); ``prior``: the model's score table
    measured beforehand (pipeline.tags.scores)."""
    vectors = np.ascontiguousarray(vectors, np.float32)
    tags = np.asarray(tags, np.int64)
    tagged = np.flatnonzero(tags != NO_NAME)
    suspect = suspect_tags(vectors[tagged], tags[tagged], rules.suspects)
    trusted = tags.copy()
    trusted[tagged[suspect]] = NO_NAME
    similarities, neighbours = graph
    name_faces = partial(
        propagate_names, vectors, similarities, neighbours, photos=photos, rule=rules.naming, rejected=rejected
    )
    naming = name_faces(trusted)
    table = score_table(*held_out_names(trusted, name_faces, rules.folds), prior)
    rows = np.flatnonzero((naming.name != NO_NAME) & (tags == NO_NAME))
    scores = table.score(naming.direct[rows])
    keep = precision_cut(scores, rules.min_precision)
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
    )


def graph_neighbours(neighbours: int, faces: int) -> int:
    """How many of its ``neighbours`` nearest faces the kNN graph of ``faces`` faces keeps per face."""
    return min(neighbours, faces - 1)
