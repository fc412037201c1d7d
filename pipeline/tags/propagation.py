"""Names travel from tagged faces to untagged ones along the kNN graph of all faces, a step at a time.

A face takes a name when, among its ``neighbours`` nearest faces (tagged or not), the nearest face that
has a name (a tag, or a name taken in an earlier round) is at least ``similarity`` similar, no face of
another name (nor one that rejected the name) comes within ``margin`` of it, the face lies at least
``direct_similarity`` from the name's nearest tagged face, no other face of its photo has the name
(cannot-link), and nobody rejected the name for this face. A face passes its name on in the next
rounds only when it took it at least ``pass_on`` similar: one stranger's photo barely like a tagged
face must not carry the name to all of the stranger's photos. Rounds repeat until no face takes a name.

Taking names only from a face's own nearest faces is what stops look-alikes: the 530 untagged photos of
one brother each have ~500 photos of himself nearer than any tagged photo of the other brother, so the
other's name never reaches them, however similar the brothers are.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

NO_NAME = -1


@dataclass(frozen=True)
class NamingRule:
    """When a face takes a name (see the module's docstring): from its ``neighbours`` nearest faces, at
    ``similarity`` to the named face, ``margin`` ahead of any other name, ``direct_similarity`` to the
    name's nearest tagged face; passed on when taken at ``pass_on``. The similarities come from the
    threshold service, for the faces' model."""

    neighbours: int
    similarity: float
    direct_similarity: float
    margin: float
    pass_on: float


@dataclass(frozen=True)
class Naming:
    """Per face: ``name`` (an id, NO_NAME for none), ``hops`` (1: from a tagged face among its nearest;
    more: through faces named on the way; 0 for the tagged faces and the unnamed), ``seed`` (the tagged
    face the name started from, -1), ``link`` (similarity to the named face it took the name from),
    ``direct`` (similarity to the name's nearest tagged face), ``runner_up`` (the similarity of the
    nearest face of another name among its nearest, -inf for none)."""

    name: np.ndarray
    hops: np.ndarray
    seed: np.ndarray
    link: np.ndarray
    direct: np.ndarray
    runner_up: np.ndarray


def _first(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: whether any column is set, and the first set column (0 when none)."""
    return mask.any(axis=1), mask.argmax(axis=1)


def _direct_similarity(vectors: np.ndarray, rows: np.ndarray, names: np.ndarray, tagged: dict[int, np.ndarray]):
    """The similarity of each face of ``rows`` to the nearest tagged face of its candidate name (``names``)."""
    best = np.full(len(rows), -np.inf, np.float32)
    for name in np.unique(names):
        mine = names == name
        best[mine] = (vectors[rows[mine]] @ vectors[tagged[name]].T).max(axis=1)
    return best


def _pair_keys(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """One int64 per (first, second) pair of non-negative ints below 2**31."""
    return np.asarray(first, np.int64) << 31 | np.asarray(second, np.int64)


def _cannot_link(rows: np.ndarray, names: np.ndarray, strength: np.ndarray, photos: np.ndarray, taken: np.ndarray):
    """Which candidates keep their name: no photo gets a name twice, its strongest candidate keeps it,
    and none where the photo already has the name (``taken``: _pair_keys of (photo, name))."""
    keep = ~np.isin(_pair_keys(photos[rows], names), taken)
    order = np.lexsort((-strength, names, photos[rows]))
    photo, name = photos[rows][order], names[order]
    repeat = np.r_[False, (photo[1:] == photo[:-1]) & (name[1:] == name[:-1])]
    keep[order[repeat]] = False
    return keep


def propagate_names(
    vectors: np.ndarray,
    similarities: np.ndarray,
    neighbours: np.ndarray,
    tags: np.ndarray,
    photos: np.ndarray,
    rule: NamingRule,
    rejected: Collection[tuple[int, int]] = (),
    max_rounds: int = 100,
) -> Naming:
    """Name the faces (unit ``vectors``; kNN graph ``similarities`` / ``neighbours``, best first, -1 for
    none) from ``tags`` (a name id per face, NO_NAME for untagged; suspect tags already left out), faces
    of ``photos`` (an integer id per face) by ``rule``, with no name given where (face, name) is in ``rejected``;
    a face that rejected a name counts, for its neighbours, as a face of another name."""
    n = len(vectors)
    similarities, neighbours = similarities[:, : rule.neighbours], neighbours[:, : rule.neighbours]
    name = np.asarray(tags, np.int64).copy()
    tagged_rows = {int(t): np.flatnonzero(name == t) for t in np.unique(name[name != NO_NAME])}
    hops = np.zeros(n, np.int64)
    seed = np.where(name != NO_NAME, np.arange(n), -1)
    link = np.full(n, np.nan, np.float32)
    direct = np.full(n, np.nan, np.float32)
    runner_up = np.full(n, -np.inf, np.float32)
    rejections = np.array(sorted(_pair_keys(f, r) for f, r in rejected), np.int64)
    taken = _pair_keys(photos[name != NO_NAME], name[name != NO_NAME])
    reach = rule.similarity - rule.margin
    carried = name.copy()  # the names faces pass on: the tags, and names taken by a strong enough link
    for _ in range(max_rounds):
        open_rows = np.flatnonzero(name == NO_NAME)
        near = neighbours[open_rows]
        near_names = np.where(near >= 0, carried[np.maximum(near, 0)], NO_NAME)
        close = similarities[open_rows] >= reach
        named = (near_names != NO_NAME) & close
        has, first = _first(named)
        rows, first = open_rows[has], first[has]
        if not len(rows):
            break
        near, near_names, close = near[has], near_names[has], close[has]
        best = near_names[np.arange(len(rows)), first]
        best_similarity = similarities[rows, first]
        other = (near_names != NO_NAME) & (near_names != best[:, None]) & close
        if len(rejections):  # a face that rejected the name counts as a face of another name
            other |= np.isin(_pair_keys(np.maximum(near, 0), best[:, None]), rejections) & (near >= 0) & close
        has_other, second = _first(other)
        second_similarity = np.where(has_other, similarities[rows, second], -np.inf)
        ok = (best_similarity >= rule.similarity) & (second_similarity < best_similarity - rule.margin)
        ok &= ~np.isin(_pair_keys(rows, best), rejections)
        rows, best, first = rows[ok], best[ok], first[ok]
        best_similarity, second_similarity = best_similarity[ok], second_similarity[ok]
        reached = _direct_similarity(vectors, rows, best, tagged_rows)
        ok = reached >= rule.direct_similarity
        rows, best, first, reached = rows[ok], best[ok], first[ok], reached[ok]
        best_similarity, second_similarity = best_similarity[ok], second_similarity[ok]
        keep = _cannot_link(rows, best, best_similarity, photos, taken) if len(rows) else np.zeros(0, bool)
        if not keep.any():
            break
        rows, best, first = rows[keep], best[keep], first[keep]
        source = neighbours[rows, first]
        name[rows] = best
        hops[rows] = hops[source] + 1
        seed[rows] = seed[source]
        link[rows] = best_similarity[keep]
        direct[rows] = reached[keep]
        runner_up[rows] = second_similarity[keep]
        carried[rows] = np.where(best_similarity[keep] >= rule.pass_on, best, NO_NAME)
        taken = np.union1d(taken, _pair_keys(photos[rows], best))
    untagged_names = np.where(np.asarray(tags) == NO_NAME, name, NO_NAME)
    return Naming(untagged_names, hops, seed, link, direct, runner_up)
