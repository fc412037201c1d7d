"""Groups of photos joined by links (connected components), with ids that stay the same from run to
run: a group keeps the id of the earlier group most of its photos were in."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pipeline import schema as S


def connected_groups(photos: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Per photo, its group's number (0..), or -1 for a photo linked to no other."""
    if not len(i):
        return np.full(photos, -1, np.int64)
    graph = coo_matrix((np.ones(len(i), np.int8), (i, j)), shape=(photos, photos))
    return _numbered(connected_components(graph, directed=False)[1])


def _numbered(components: np.ndarray) -> np.ndarray:
    """Components of two photos or more numbered 0.., the others -1."""
    linked = np.bincount(components)[components] > 1
    out = np.full(len(components), -1, np.int64)
    _, out[linked] = np.unique(components[linked], return_inverse=True)
    return out


def new_group_id(uris: list[str], scope: str = S.DEFAULT_SCOPE) -> str:
    """An id for a group seen for the first time: a hash of its first uri (and of its scope, but for the
    default scope's, so that a store of one library keeps the ids it had before scopes)."""
    key = min(uris) if scope == S.DEFAULT_SCOPE else f"{scope}\0{min(uris)}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def carry_group_ids(
    labels: np.ndarray, uris: list[str], earlier: dict[str, str], scope: str = S.DEFAULT_SCOPE
) -> dict[int, str]:
    """Group number -> id: the id of the earlier group (``earlier``: uri -> group id) holding most of
    its photos, each earlier id given to one group at most (the largest share first); else a new id
    (of ``scope``)."""
    members: dict[int, list[int]] = {}
    for photo in np.flatnonzero(labels >= 0):
        members.setdefault(int(labels[photo]), []).append(int(photo))
    claims = []
    for group, photos in members.items():
        for old, count in Counter(earlier[uris[p]] for p in photos if uris[p] in earlier).items():
            claims.append((-count, old, group))
    ids: dict[int, str] = {}
    taken: set[str] = set()
    for _, old, group in sorted(claims):
        if group not in ids and old not in taken:
            ids[group] = old
            taken.add(old)
    for group, photos in members.items():
        if group not in ids:
            ids[group] = new_group_id([uris[p] for p in photos], scope)
    return ids


def constrained_groups(photos: int, i: np.ndarray, j: np.ndarray, apart: np.ndarray) -> np.ndarray:
    """Per photo, its group's number (0..), or -1: links (``i``, ``j``) joined in the order given,
    strongest first, each skipped when it would put two photos of an ``apart`` row (k, 2) in one
    group (two exposures linked through a copy of one of them)."""
    parent = np.arange(photos)

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    others: dict[int, set[int]] = {}  # a group's root -> photos that must stay out of it
    for a, b in apart:
        others.setdefault(int(a), set()).add(int(b))
        others.setdefault(int(b), set()).add(int(a))
    for a, b in zip(i.tolist(), j.tolist()):
        ra, rb = root(a), root(b)
        if ra == rb:
            continue
        if any(root(x) == rb for x in others.get(ra, ())) or any(root(x) == ra for x in others.get(rb, ())):
            continue
        parent[rb] = ra
        if rb in others:
            others.setdefault(ra, set()).update(others.pop(rb))
    roots = np.array([root(x) for x in range(photos)], np.int64)
    return _numbered(roots)
