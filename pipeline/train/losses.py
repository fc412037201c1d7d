"""Metric-learning losses on embeddings (torch), as objects built once from their margin: FaceNet's
triplet loss on mined triplets, the same loss with triplets mined inside a batch (batch-hard,
batch-semi-hard), and the Siamese contrastive loss on pairs. Distances are squared Euclidean, as in
FaceNet (on unit vectors: 2 - 2 cos).

Every loss is called the same way, as pytorch-metric-learning's are: ``loss(embeddings, labels,
indices)``, where ``indices`` are positions in the batch that a miner chose (triplets, or pairs) and
``labels`` the person of each row. It returns (mean loss, fraction of active terms): a triplet or
pair is active when it contributes a non-zero loss; a falling active fraction shows the miner
running out of hard cases.

Written here rather than taken from pytorch-metric-learning: its reducers average over the non-zero
terms and its semi-hard miner has no fallback negative, where these follow FaceNet and TensorFlow
Addons; each is checked against brute-force enumeration in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

TRIPLET_MARGIN = 0.2  # FaceNet's alpha

Indices = tuple[torch.Tensor, ...]


class Loss(Protocol):
    def __call__(
        self, embeddings: torch.Tensor, labels: torch.Tensor, indices: Indices | None = None
    ) -> tuple[torch.Tensor, float]: ...


def squared_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """n x n squared Euclidean distances between the rows (clamped at 0 against rounding)."""
    norms = (embeddings * embeddings).sum(dim=1)
    return (norms[:, None] + norms[None, :] - 2.0 * embeddings @ embeddings.T).clamp_min(0.0)


def _distances_and_masks(
    embeddings: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The batch's squared distances, and which pairs are positives (same person, not itself) and
    which negatives."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return squared_distances(embeddings), same & ~eye, ~same


def _hinge(
    d_ap: torch.Tensor, d_an: torch.Tensor, margin: float, usable: torch.Tensor, embeddings: torch.Tensor
) -> tuple[torch.Tensor, float]:
    """Mean of max(d_ap - d_an + margin, 0) over the ``usable`` terms and their active fraction; with
    none usable, a zero that still has a gradient (to ``embeddings``)."""
    if not usable.any():
        return embeddings.sum() * 0.0, 0.0
    terms = (d_ap - d_an + margin).clamp_min(0.0)[usable]
    return terms.mean(), float((terms > 0).float().mean())


@dataclass(frozen=True)
class TripletLoss:
    """mean of max(||a - p||^2 - ||a - n||^2 + margin, 0) over given triplets: ``indices`` is
    (anchors, positives, negatives), rows of the embeddings; the labels are not read."""

    margin: float = TRIPLET_MARGIN

    def __call__(
        self, embeddings: torch.Tensor, labels: torch.Tensor, indices: Indices | None = None
    ) -> tuple[torch.Tensor, float]:
        anchor, positive, negative = (embeddings[i] for i in indices)
        terms = ((anchor - positive).pow(2).sum(1) - (anchor - negative).pow(2).sum(1) + self.margin).clamp_min(0.0)
        return terms.mean(), float((terms > 0).float().mean())


@dataclass(frozen=True)
class BatchHardTripletLoss:
    """Each anchor with its farthest positive and nearest negative in the batch (Hermans et al.);
    anchors without a positive or a negative in the batch are left out. No ``indices``: it mines."""

    margin: float = TRIPLET_MARGIN

    def __call__(
        self, embeddings: torch.Tensor, labels: torch.Tensor, indices: Indices | None = None
    ) -> tuple[torch.Tensor, float]:
        distances, positive, negative = _distances_and_masks(embeddings, labels)
        hardest_positive = torch.where(positive, distances, torch.zeros_like(distances)).max(dim=1).values
        hardest_negative = torch.where(negative, distances, torch.full_like(distances, float("inf"))).min(dim=1).values
        usable = positive.any(dim=1) & negative.any(dim=1)
        return _hinge(hardest_positive, hardest_negative, self.margin, usable, embeddings)


@dataclass(frozen=True)
class BatchSemiHardTripletLoss:
    """Every anchor-positive pair of the batch with its semi-hard negative (FaceNet): the nearest
    negative farther than the positive, d(a,p) < d(a,n); where there is none, the farthest negative
    (as TensorFlow Addons' triplet_semihard_loss does). No ``indices``: it mines."""

    margin: float = TRIPLET_MARGIN

    def __call__(
        self, embeddings: torch.Tensor, labels: torch.Tensor, indices: Indices | None = None
    ) -> tuple[torch.Tensor, float]:
        distances, positive, negative = _distances_and_masks(embeddings, labels)
        anchors, positives = positive.nonzero(as_tuple=True)
        if not len(anchors):
            return embeddings.sum() * 0.0, 0.0
        d_ap = distances[anchors, positives]
        d_an = distances[anchors]  # pairs x n
        candidates = negative[anchors]
        farther = candidates & (d_an > d_ap[:, None])
        inf = torch.full_like(d_an, float("inf"))
        semi_hard = torch.where(farther, d_an, inf).min(dim=1).values
        farthest = torch.where(candidates, d_an, -inf).max(dim=1).values
        chosen = torch.where(farther.any(dim=1), semi_hard, farthest)
        return _hinge(d_ap, chosen, self.margin, candidates.any(dim=1), embeddings)


@dataclass(frozen=True)
class ContrastiveLoss:
    """Hadsell, Chopra and LeCun's loss on given pairs: d^2 for a same-person pair, max(margin - d,
    0)^2 for a different-person pair (d: Euclidean distance). ``indices`` is (first, second) of the
    same-person pairs then (first, second) of the different-person pairs, rows of the embeddings (as
    pytorch-metric-learning's pair miners give them); the labels are not read."""

    margin: float = 1.0

    def __call__(
        self, embeddings: torch.Tensor, labels: torch.Tensor, indices: Indices | None = None
    ) -> tuple[torch.Tensor, float]:
        same_first, same_second, other_first, other_second = indices
        first = torch.cat([embeddings[same_first], embeddings[other_first]])
        second = torch.cat([embeddings[same_second], embeddings[other_second]])
        distance = (first - second).pow(2).sum(1).clamp_min(1e-12).sqrt()
        same = torch.cat([torch.ones(len(same_first)), torch.zeros(len(other_first))]).to(distance)
        terms = same * distance.pow(2) + (1.0 - same) * (self.margin - distance).clamp_min(0.0).pow(2)
        active = (same > 0) | (distance < self.margin)
        return terms.mean(), float(active.float().mean())
