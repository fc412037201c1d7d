"""Two common rules naming a face from tagged faces: the nearest within a distance, a weighted vote of the nearest."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

MAX_DISTANCE = 0.5  # cosine distance (1 - cosine similarity) of both rules
VOTERS = 5
CHUNK_ROWS = 4096  # faces compared with every tagged face at once

# A rule: (embeddings to name, tagged embeddings, tagged names) -> a name or None per row.
Rule = Callable[[np.ndarray, np.ndarray, Sequence[str]], list[str | None]]


def _nearest(queries: np.ndarray, tagged: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest tagged rows of each query, nearest first: (rows, cosine distances), each (n, k)."""
    # Exact search by matrix product (a few thousand tagged faces): what FAISS's flat index would do.
    rows, distances = [], []
    for start in range(0, len(queries), CHUNK_ROWS):
        distance = 1.0 - queries[start : start + CHUNK_ROWS] @ tagged.T
        top = np.argpartition(distance, k - 1, axis=1)[:, :k] if k < tagged.shape[0] else np.argsort(distance, axis=1)
        top = np.take_along_axis(top, np.argsort(np.take_along_axis(distance, top, axis=1), axis=1), axis=1)
        rows.append(top)
        distances.append(np.take_along_axis(distance, top, axis=1))
    return np.concatenate(rows), np.concatenate(distances)


def nearest_tagged_name(
    queries: np.ndarray, tagged: np.ndarray, names: Sequence[str], max_distance: float = MAX_DISTANCE
) -> list[str | None]:
    """The name of each query's nearest tagged face (``tagged``, L2-normalised rows named ``names``)
    when it lies within cosine distance ``max_distance``; None otherwise."""
    if not len(queries) or not len(tagged):
        return [None] * len(queries)
    rows, distances = _nearest(queries.astype(np.float32), tagged.astype(np.float32), 1)
    return [names[r] if d < max_distance else None for r, d in zip(rows[:, 0], distances[:, 0])]


def weighted_vote_name(
    queries: np.ndarray,
    tagged: np.ndarray,
    names: Sequence[str],
    voters: int = VOTERS,
    max_distance: float = MAX_DISTANCE,
) -> list[str | None]:
    """The name with the largest vote among each query's ``voters`` nearest tagged faces within cosine
    distance ``max_distance``, each voting ``max_distance - distance`` for its name (a tie goes to the
    name of the nearer face); None when no tagged face lies that near."""
    if not len(queries) or not len(tagged):
        return [None] * len(queries)
    k = min(voters, len(tagged))
    rows, distances = _nearest(queries.astype(np.float32), tagged.astype(np.float32), k)
    ids = {name: i for i, name in enumerate(dict.fromkeys(names))}
    voter_names = np.array([ids[name] for name in names])[rows]  # (n, k)
    weights = np.clip(max_distance - distances, 0.0, None)
    # each voter's name's total: the weights of the voters sharing it
    totals = ((voter_names[:, :, None] == voter_names[:, None, :]) * weights[:, None, :]).sum(axis=2)
    best = np.argmax(totals, axis=1)  # the first (nearest) voter of the winning name
    winners = np.take_along_axis(voter_names, best[:, None], axis=1)[:, 0]
    by_id = list(ids)
    return [by_id[w] if t > 0 else None for w, t in zip(winners, totals[np.arange(len(best)), best])]


def name_untagged_faces(
    face_ids: Sequence[str], embeddings: np.ndarray, tags: Mapping[str, str], rule: Rule
) -> dict[str, str]:
    """face id -> the name ``rule`` gives each untagged face of ``face_ids`` (rows of ``embeddings``),
    from the tagged ones (``tags``: face id -> name); faces given no name are left out."""
    tagged = [i for i, face in enumerate(face_ids) if face in tags]
    untagged = [i for i, face in enumerate(face_ids) if face not in tags]
    names = rule(embeddings[untagged], embeddings[tagged], [tags[face_ids[i]] for i in tagged])
    return {face_ids[i]: name for i, name in zip(untagged, names) if name is not None}
