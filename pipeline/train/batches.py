"""What one training step trains on: a ``Batch`` (training faces to embed, the person of each, the
triplets or pairs a miner chose among them), and the batch sources of the online objectives, P x K
batches as they are (batch-hard and batch-semi-hard mine inside them) and P x K batches with random
contrastive pairs. A batch source is called with the step number and returns that step's batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from pipeline.train.sampler import PKSampler


@dataclass(frozen=True)
class Batch:
    """``rows``: training faces to embed, in order; ``labels``: a person number per row; ``indices``:
    positions in ``rows`` a miner chose (anchors, positives, negatives; or same-person then
    different-person pairs), None where the loss mines inside the batch; ``mining_s``: seconds spent
    mining to make this batch."""

    rows: np.ndarray
    labels: np.ndarray
    indices: tuple[np.ndarray, ...] | None = None
    mining_s: float = 0.0

    def targets(self, device: torch.device) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """The labels and the indices as tensors on ``device``, as a loss takes them."""
        to = lambda array: torch.from_numpy(np.asarray(array)).to(device)
        return to(self.labels), None if self.indices is None else tuple(to(i) for i in self.indices)


class BatchSource(Protocol):
    def __call__(self, step: int) -> Batch: ...


class PKBatches:
    """P x K batches from ``sampler``, for a loss that mines inside them."""

    def __init__(self, sampler: PKSampler):
        self.sampler = sampler

    def __call__(self, step: int) -> Batch:
        rows, persons = self.sampler.batch()
        return Batch(rows, persons)


class PKPairs:
    """P x K batches from ``sampler`` with contrastive pairs drawn by ``rng``: each face paired with
    a random other face of its person and with a random face of another person of the batch."""

    def __init__(self, sampler: PKSampler, rng: np.random.Generator):
        self.sampler, self.rng = sampler, rng

    def __call__(self, step: int) -> Batch:
        rows, persons = self.sampler.batch()
        k, people = self.sampler.faces_per_person, self.sampler.people
        own = np.arange(len(rows))
        partner = (own // k) * k + (own % k + 1 + self.rng.integers(0, k - 1, len(rows))) % k
        other = (own + k * self.rng.integers(1, people, len(rows))) % len(rows)
        return Batch(rows, persons, (own, partner, own, other))
