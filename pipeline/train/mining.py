"""Offline triplet mining (FaceNet): with embeddings from the latest weights, every face of a person
with two or more faces becomes an anchor with its hardest positive (the farthest face of the same
person) and a negative found by FAISS search among its nearest faces: the nearest face of another
person (hard), or the nearest one farther than the positive but within the margin (semi-hard,
d(a,p) < d(a,n) < d(a,p) + margin), FaceNet's choice because the hardest negatives early in
training collapse the model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipeline.search.knn_graph import knn_graph
from pipeline.train.losses import TRIPLET_MARGIN

STRATEGIES = ("hard", "semi_hard")


@dataclass(frozen=True)
class Triplets:
    """Row numbers (into the mined faces) of anchor, positive and negative, and their squared
    distances d(a,p) and d(a,n)."""

    anchor: np.ndarray
    positive: np.ndarray
    negative: np.ndarray
    d_ap: np.ndarray
    d_an: np.ndarray

    def __len__(self) -> int:
        return len(self.anchor)

    def table(self, face_ids: np.ndarray, step: int) -> pa.Table:
        """The triplets as a table for inspection: face ids, distances, the training step mined at."""
        return pa.table(
            {
                "anchor": face_ids[self.anchor],
                "positive": face_ids[self.positive],
                "negative": face_ids[self.negative],
                "d_ap": self.d_ap.astype(np.float32),
                "d_an": self.d_an.astype(np.float32),
                "step": np.full(len(self), step, np.int64),
            }
        )


def hardest_positives(vectors: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per face, the row of the farthest other face of its person and the squared distance (-1 and
    NaN for a person's only face)."""
    order = np.argsort(labels, kind="stable")
    starts = np.flatnonzero(np.r_[True, labels[order][1:] != labels[order][:-1]])
    ends = np.r_[starts[1:], len(order)]
    positive, distance = np.full(len(labels), -1, np.int64), np.full(len(labels), np.nan)
    for start, end in zip(starts, ends):
        if end - start < 2:
            continue
        members = order[start:end]
        group = vectors[members].astype(np.float64)
        squared = np.maximum(2.0 - 2.0 * group @ group.T, 0.0)  # unit vectors
        farthest = squared.argmax(axis=1)
        positive[members], distance[members] = members[farthest], squared[np.arange(len(members)), farthest]
    return positive, distance


def mine_triplets(
    vectors: np.ndarray,
    labels: np.ndarray,
    strategy: str = "semi_hard",
    margin: float = TRIPLET_MARGIN,
    neighbours: int = 100,
) -> Triplets:
    """Triplets over unit ``vectors`` of persons ``labels``; negatives are looked for among each
    anchor's ``neighbours`` nearest faces (exact search for a mining subset up to 50,000 faces). An
    anchor without a qualifying negative there is left out: for semi-hard, none lies in the window,
    so its loss would be zero."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    labels = np.asarray(labels)
    positive, d_ap = hardest_positives(vectors, labels)
    similarities, rows = knn_graph(np.ascontiguousarray(vectors, np.float32), min(neighbours, len(vectors) - 1))
    squared = np.maximum(2.0 - 2.0 * similarities.astype(np.float64), 0.0)  # ascending along each row
    qualifies = (rows >= 0) & (labels[np.maximum(rows, 0)] != labels[:, None])
    if strategy == "semi_hard":
        qualifies &= (squared > d_ap[:, None]) & (squared < d_ap[:, None] + margin)
    first = qualifies.argmax(axis=1)  # the nearest qualifying neighbour
    found = qualifies[np.arange(len(labels)), first] & (positive >= 0)
    anchors = np.flatnonzero(found)
    return Triplets(
        anchors, positive[anchors], rows[anchors, first[anchors]], d_ap[anchors], squared[anchors, first[anchors]]
    )
