"""The training objectives by name: each one a loss and the batch source that feeds it, built once
per worker from plain settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pipeline.train.batches import BatchSource, PKBatches, PKPairs
from pipeline.train.losses import BatchHardTripletLoss, BatchSemiHardTripletLoss, ContrastiveLoss, Loss, TripletLoss
from pipeline.train.mining import Mining, OfflineTripletMiner
from pipeline.train.sampler import PKSampler


@dataclass(frozen=True)
class ObjectiveSettings:
    """``name``: offline_semi_hard, offline_hard (triplets mined offline every ``mine_every`` steps
    among ``mine_people`` people, at most ``mine_faces_per_person`` faces each, negatives looked for
    among ``mine_neighbours`` neighbours), batch_hard, batch_semi_hard (mined inside P x K batches of
    ``people_per_batch`` x ``faces_per_person``) or contrastive (pairs from those batches);
    ``margin`` of the triplet losses, ``contrastive_margin`` of the contrastive one."""

    name: str
    margin: float
    contrastive_margin: float
    people_per_batch: int
    faces_per_person: int
    mine_every: int
    mine_people: int
    mine_faces_per_person: int
    mine_neighbours: int

    @property
    def batch_size(self) -> int:
        """Faces in a P x K batch (an offline batch holds a third as many triplets)."""
        return self.people_per_batch * self.faces_per_person


def build_objective(
    settings: ObjectiveSettings,
    labels: np.ndarray,
    seed: int,
    embed_rows: Callable[[np.ndarray], np.ndarray],
    on_mined: Callable[[Mining], None] | None = None,
) -> tuple[Loss, BatchSource]:
    """The loss and the batch source of ``settings.name`` over training faces of persons ``labels``,
    drawing with ``seed``. The offline objectives embed with ``embed_rows`` (training rows -> unit
    vectors with the current weights) and hand each mining to ``on_mined``."""
    sampler = PKSampler(labels, settings.people_per_batch, settings.faces_per_person, seed)
    rng = np.random.default_rng(seed)
    if settings.name in ("offline_semi_hard", "offline_hard"):
        miner = OfflineTripletMiner(
            strategy=settings.name.removeprefix("offline_"),
            margin=settings.margin,
            neighbours=settings.mine_neighbours,
            people=settings.mine_people,
            faces_per_person=settings.mine_faces_per_person,
            every=settings.mine_every,
            triplets_per_batch=max(1, settings.batch_size // 3),
            labels=labels,
            sampler=sampler,
            rng=rng,
            embed_rows=embed_rows,
            on_mined=on_mined,
        )
        return TripletLoss(settings.margin), miner
    if settings.name == "batch_hard":
        return BatchHardTripletLoss(settings.margin), PKBatches(sampler)
    if settings.name == "batch_semi_hard":
        return BatchSemiHardTripletLoss(settings.margin), PKBatches(sampler)
    if settings.name == "contrastive":
        return ContrastiveLoss(settings.contrastive_margin), PKPairs(sampler, rng)
    raise ValueError(f"unknown objective {settings.name!r}")
