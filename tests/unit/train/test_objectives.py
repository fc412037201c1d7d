"""Objective names to their loss and batch source: every objective the train section accepts builds,
with the margins given, and its loss reads the batches its source makes."""

from __future__ import annotations

import typing

import numpy as np
import pytest
import torch

from pipeline.config import TrainConfig
from pipeline.train.batches import PKBatches, PKPairs
from pipeline.train.losses import BatchHardTripletLoss, BatchSemiHardTripletLoss, ContrastiveLoss, TripletLoss
from pipeline.train.mining import OfflineTripletMiner
from pipeline.train.objectives import ObjectiveSettings, build_objective

LABELS = np.repeat(np.arange(12), 5)
VECTORS = torch.nn.functional.normalize(torch.randn(len(LABELS), 16, generator=torch.Generator().manual_seed(0)), dim=1)


def _settings(name: str) -> ObjectiveSettings:
    return ObjectiveSettings(
        name=name,
        margin=0.3,
        contrastive_margin=1.1,
        people_per_batch=4,
        faces_per_person=3,
        mine_every=10,
        mine_people=12,
        mine_faces_per_person=5,
        mine_neighbours=59,
    )


EXPECTED = {
    "offline_semi_hard": (TripletLoss(0.3), OfflineTripletMiner),
    "offline_hard": (TripletLoss(0.3), OfflineTripletMiner),
    "batch_hard": (BatchHardTripletLoss(0.3), PKBatches),
    "batch_semi_hard": (BatchSemiHardTripletLoss(0.3), PKBatches),
    "contrastive": (ContrastiveLoss(1.1), PKPairs),
}


def test_every_objective_of_the_train_section_is_built():
    assert set(typing.get_args(TrainConfig.model_fields["objective"].annotation)) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_objective_builds_its_loss_and_batch_source(name: str):
    loss_fn, batches = build_objective(_settings(name), LABELS, seed=0, embed_rows=lambda rows: VECTORS[rows].numpy())
    expected_loss, expected_source = EXPECTED[name]
    assert loss_fn == expected_loss and isinstance(batches, expected_source)
    if isinstance(batches, OfflineTripletMiner):
        assert batches.strategy == name.removeprefix("offline_") and batches.triplets_per_batch == 4
    batch = batches(1)
    loss, active = loss_fn(VECTORS[batch.rows], *batch.targets(torch.device("cpu")))
    assert loss.item() > 0 and 0 < active <= 1


def test_unknown_objective_is_refused():
    with pytest.raises(ValueError, match="arcface"):
        build_objective(_settings("arcface"), LABELS, seed=0, embed_rows=lambda rows: VECTORS[rows].numpy())
