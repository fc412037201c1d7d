"""Offline triplet mining (FaceNet): with embeddings from the latest weights, every face of a person
with two or more faces becomes an anchor with its hardest positive (the farthest face of the same
person) and a negative found by FAISS search among its nearest faces: the nearest face of another
person (hard), or the nearest one farther than the positive but within the margin (semi-hard,
d(a,p) < d(a,n) < d(a,p) + margin), FaceNet's choice because the hardest negatives early in
training collapse the model. ``OfflineTripletMiner`` does it on a schedule during training and
draws each step's triplets from its latest mining."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipeline.search.knn_graph import knn_graph
from pipeline.train.batches import Batch
from pipeline.train.losses import TRIPLET_MARGIN
from pipeline.train.sampler import PKSampler

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


@dataclass(frozen=True)
class Mining:
    """One offline mining: the step it was made at, the training rows of the mined subset and the
    triplets found (row numbers into that subset)."""

    step: int
    rows: np.ndarray
    triplets: Triplets


class OfflineTripletMiner:
    """The batch source of the offline objectives. At its first step and every ``every`` steps, it
    embeds a fresh subset (up to ``faces_per_person`` faces of each of ``people`` people drawn by
    ``sampler``) with ``embed_rows`` (training rows -> unit vectors with the current weights) and mines
    it (``strategy``, ``margin``, ``neighbours`` as ``mine_triplets`` takes them); ``on_mined``, when
    given, receives each mining: nothing is written here. Each batch is ``triplets_per_batch`` triplets of
    the latest mining drawn by ``rng``: their anchors, then positives, then negatives."""

    def __init__(
        self,
        strategy: str,
        margin: float,
        neighbours: int,
        people: int,
        faces_per_person: int,
        every: int,
        triplets_per_batch: int,
        labels: np.ndarray,
        sampler: PKSampler,
        rng: np.random.Generator,
        embed_rows: Callable[[np.ndarray], np.ndarray],
        on_mined: Callable[[Mining], None] | None = None,
    ):
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        self.strategy, self.margin, self.neighbours = strategy, margin, neighbours
        self.people, self.faces_per_person, self.every = people, faces_per_person, every
        self.triplets_per_batch = triplets_per_batch
        self.labels, self.sampler, self.rng = np.asarray(labels), sampler, rng
        self.embed_rows, self.on_mined = embed_rows, on_mined
        self.latest: Mining | None = None

    def mine(self, step: int) -> Mining:
        """Embed a fresh subset with the current weights and mine it."""
        rows = self.sampler.people_subset(self.people, self.faces_per_person)
        found = mine_triplets(self.embed_rows(rows), self.labels[rows], self.strategy, self.margin, self.neighbours)
        if not len(found):
            raise RuntimeError("offline mining found no triplets: raise train.mine_people or train.mine_neighbours")
        return Mining(step, rows, found)

    def __call__(self, step: int) -> Batch:
        mining_s = 0.0
        if self.latest is None or (step - 1) % self.every == 0:
            tick = time.monotonic()
            self.latest = self.mine(step)
            mining_s = time.monotonic() - tick
            if self.on_mined is not None:
                self.on_mined(self.latest)
        rows, found = self.latest.rows, self.latest.triplets
        n = self.triplets_per_batch
        pick = self.rng.choice(len(found), n, replace=len(found) < n)
        picked = np.concatenate([rows[found.anchor[pick]], rows[found.positive[pick]], rows[found.negative[pick]]])
        positions = np.arange(3 * n)
        return Batch(picked, self.labels[picked], (positions[:n], positions[n : 2 * n], positions[2 * n :]), mining_s)
