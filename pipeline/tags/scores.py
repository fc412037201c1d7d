"""Each suggestion's score, the estimated probability that its name is right, from the library's own tags.

No truth is needed: the tags are cut into folds, each fold's tagged faces are hidden in turn and named
from the other folds' tags exactly as untagged faces are, and the share of hidden faces given back
their own name is measured by the face's similarity to the name's nearest tagged face (in bins,
made non-decreasing). A hidden face of a person tagged once has nobody left to match:
any name it gets is wrong, as a stranger's would be, so the estimate counts strangers too. The scores
are measured on the embeddings of the run, so they are per model by construction; each bin is drawn
towards the same measurement made on LFW for the model (shipped in ``priors/``, made by
benchmarks.tags_prior) by 20 names' worth, so that a library with few tags still gets scores.
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pipeline.models.catalog import model_file_stem
from pipeline.tags.propagation import NO_NAME, Naming

PRIORS = importlib.resources.files("pipeline.tags") / "priors"
BIN_WIDTH = 0.02  # similarity bins this wide, ...
MIN_PER_BIN = 40  # ... merged upwards until each holds this many held-out names
PRIOR_WEIGHT = 20.0  # held-out names' worth of the prior, added to every bin


def _bin_edges(direct: np.ndarray) -> np.ndarray:
    """The lower edges of the bins: BIN_WIDTH-wide steps from the lowest similarity, each merged with
    the next until it holds MIN_PER_BIN of ``direct`` (the last with the one below it)."""
    grid = np.arange(np.floor(direct.min() / BIN_WIDTH) * BIN_WIDTH, direct.max() + BIN_WIDTH, BIN_WIDTH)
    counts = np.histogram(direct, np.r_[grid, np.inf])[0]
    edges: list[float] = []
    held = 0
    for edge, count in zip(grid, counts):
        if not held:
            start = edge
        held += count
        if held >= MIN_PER_BIN:
            edges.append(start)
            held = 0
    return np.array(edges or [grid[0]])


def _isotonic(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The non-decreasing sequence nearest ``values`` in weighted least squares (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for value, weight in zip(values, weights):
        blocks.append([float(value), float(weight), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, weight, count = blocks.pop()
            last = blocks[-1]
            total = last[1] + weight
            last[0] = (last[0] * last[1] + mean * weight) / total if total else mean
            last[1], last[2] = total, last[2] + count
    return np.repeat([b[0] for b in blocks], [b[2] for b in blocks])


@dataclass(frozen=True)
class ScoreTable:
    """The lower edges of the similarity bins and each bin's estimated precision: (right + PRIOR_WEIGHT x
    the prior's precision there) / (named + PRIOR_WEIGHT), made non-decreasing, with the held-out counts."""

    edges: np.ndarray
    precision: np.ndarray
    named: np.ndarray
    right: np.ndarray

    def score(self, direct: np.ndarray) -> np.ndarray:
        """The estimated precision of names given at similarity ``direct`` to the name's nearest tagged face."""
        if not len(self.edges):
            return np.zeros(len(direct), np.float32)
        which = np.clip(np.searchsorted(self.edges, np.asarray(direct, np.float32), "right") - 1, 0, None)
        return self.precision[which].astype(np.float32)

    def describe(self) -> list[dict]:
        return [
            {"from_similarity": round(float(e), 4), "precision": round(float(p), 4), "named": int(n), "right": int(r)}
            for e, p, n, r in zip(self.edges, self.precision, self.named, self.right)
        ]


def score_table(direct: np.ndarray, right: np.ndarray, prior: ScoreTable | None = None) -> ScoreTable:
    """The ScoreTable of held-out names given at similarities ``direct``, ``right`` or not, each bin
    drawn towards ``prior`` (a table measured beforehand for the model; None: the share right over all
    the held-out names, counting one more right and one more wrong) by PRIOR_WEIGHT names: a library
    with few tags leans on the prior, a large one on its own tags. With no held-out name at all, the
    prior's table (an empty one, which scores every name 0, without a prior)."""
    if not len(direct):
        return prior if prior is not None else ScoreTable(*(np.zeros(0) for _ in range(4)))
    edges = _bin_edges(direct)
    which = np.clip(np.searchsorted(edges, direct, "right") - 1, 0, None)
    named = np.bincount(which, minlength=len(edges))
    hits = np.bincount(which, weights=right, minlength=len(edges))
    if prior is not None:  # the prior's precision over the bin's names
        centre = np.bincount(which, weights=prior.score(direct), minlength=len(edges)) / np.maximum(named, 1)
    else:
        centre = np.full(len(edges), (hits.sum() + 1) / (named.sum() + 2))
    precision = _isotonic((hits + PRIOR_WEIGHT * centre) / (named + PRIOR_WEIGHT), named)
    return ScoreTable(edges, precision, named, hits.astype(np.int64))


def held_out_names(
    tags: np.ndarray, name_faces: Callable[[np.ndarray], Naming], folds: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(similarity to the name's nearest tagged face, right or not) of every name that ``name_faces``
    (propagate_names on the faces, given their tags) gives a tagged face of ``tags`` hidden with its
    fold, ``folds`` folds drawn with ``seed``."""
    tagged = np.flatnonzero(np.asarray(tags) != NO_NAME)
    fold_of = np.random.default_rng(seed).permutation(len(tagged)) % folds
    direct, right = [], []
    for fold in range(folds):
        hidden = tagged[fold_of == fold]
        visible = np.asarray(tags).copy()
        visible[hidden] = NO_NAME
        naming = name_faces(visible)
        named = hidden[naming.name[hidden] != NO_NAME]
        direct.append(naming.direct[named])
        right.append(naming.name[named] == tags[named])
    return np.concatenate(direct), np.concatenate(right).astype(np.float64)


def table_from_record(rows: list[dict]) -> ScoreTable:
    columns = ("from_similarity", "precision", "named", "right")
    return ScoreTable(*(np.array([row[c] for row in rows], float) for c in columns))  # from ScoreTable.describe


def prior_file(model: str) -> str:
    """The file name of ``model``'s prior."""
    return model_file_stem(model) + ".json"


def shipped_prior(model: str) -> ScoreTable | None:
    """The score table measured for ``model`` on LFW and shipped with the package (benchmarks.tags_prior);
    None for a model without one."""
    path = PRIORS / prior_file(model)
    if not path.is_file():
        return None
    return table_from_record(json.loads(path.read_text())["table"])


def precision_cut(scores: np.ndarray, min_precision: float) -> np.ndarray:
    """Which suggestions to keep: the best-scored ones while the mean of their scores, the precision
    expected of them together, stays at least ``min_precision``."""
    order = np.argsort(-scores, kind="stable")
    running = np.cumsum(scores[order]) / np.arange(1, len(scores) + 1)
    keep = np.zeros(len(scores), bool)
    keep[order[: int(np.sum(running >= min_precision))]] = True
    return keep
