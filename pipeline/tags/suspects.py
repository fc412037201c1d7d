"""Tagged faces that probably carry a wrong name: left out of the evidence so that the name does not spread.

A photo of one person tagged with another's name sits far from the other faces of that name and, when
its own person is tagged too, close to faces of another name. Both are read from the tags alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.search.knn_graph import best_others, graph_index, nearest_in

OTHER_NAME_NEIGHBOURS = 10  # nearest tagged faces looked at for a face of another name


@dataclass(frozen=True)
class SuspectRule:
    """When a tagged face is suspect: a face of another name is at least ``same_person`` similar and
    ``closer_by`` nearer than any face of its own name, or none of its name's other faces is
    ``odd_one_out`` similar. The similarities come from the threshold service, for the faces' model."""

    same_person: float
    closer_by: float
    odd_one_out: float


def best_same_name(vectors: np.ndarray, names: np.ndarray) -> np.ndarray:
    """Each tagged face's similarity to the nearest other face of its own name (-inf when it is the
    name's only one); one matrix product per name."""
    best = np.full(len(names), -np.inf, np.float32)
    order = np.argsort(names, kind="stable")
    starts = np.flatnonzero(np.r_[True, names[order][1:] != names[order][:-1]])
    for rows in np.split(order, starts[1:]):
        if len(rows) > 1:
            similarity = vectors[rows] @ vectors[rows].T
            np.fill_diagonal(similarity, -np.inf)
            best[rows] = similarity.max(axis=1)
    return best


def best_other_name(vectors: np.ndarray, names: np.ndarray) -> np.ndarray:
    """Each tagged face's similarity to the nearest face of another name among its
    OTHER_NAME_NEIGHBOURS nearest tagged faces (-inf when none of them has another name)."""
    k = min(OTHER_NAME_NEIGHBOURS, len(names) - 1)
    if k < 1:
        return np.full(len(names), -np.inf, np.float32)
    similarities, neighbours = nearest_in(graph_index(vectors, k), vectors, k + 1)
    similarities, neighbours = best_others([similarities], [neighbours], np.arange(len(names)), k)
    other = (neighbours >= 0) & (names[np.maximum(neighbours, 0)] != names[:, None])
    return np.where(other, similarities, -np.inf).max(axis=1)


def suspect_tags(vectors: np.ndarray, names: np.ndarray, rule: SuspectRule) -> np.ndarray:
    """Which tagged faces (unit ``vectors``, tagged ``names``: integer ids) are suspect by ``rule``: a
    face of another name is at least ``rule.same_person`` similar and ``rule.closer_by`` nearer than any
    face of its own name, or its name has other faces and none is ``rule.odd_one_out`` similar to it."""
    vectors = np.ascontiguousarray(vectors, np.float32)
    names = np.asarray(names)
    same = best_same_name(vectors, names)
    other = best_other_name(vectors, names)
    crowded_out = (other >= rule.same_person) & (other > same + rule.closer_by)
    alone = np.isfinite(same) & (same < rule.odd_one_out)  # two tags of a name far apart: both (no telling which)
    return crowded_out | alone
