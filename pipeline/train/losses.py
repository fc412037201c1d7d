"""Metric-learning losses on embeddings (torch): FaceNet's triplet loss on given triplets, the same
loss with triplets mined inside a batch (batch-hard, batch-semi-hard), and the Siamese contrastive
loss on pairs. Distances are squared Euclidean, as in FaceNet (on unit vectors: 2 - 2 cos).

Every loss returns (mean loss, fraction of active terms): a triplet or pair is active when it
contributes a non-zero loss; a falling active fraction shows the miner running out of hard cases.
"""

from __future__ import annotations

import torch

TRIPLET_MARGIN = 0.2  # FaceNet's alpha


def squared_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """n x n squared Euclidean distances between the rows (clamped at 0 against rounding)."""
    norms = (embeddings * embeddings).sum(dim=1)
    return (norms[:, None] + norms[None, :] - 2.0 * embeddings @ embeddings.T).clamp_min(0.0)


def triplet_loss(
    anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float = TRIPLET_MARGIN
) -> tuple[torch.Tensor, float]:
    """mean of max(||a - p||^2 - ||a - n||^2 + margin, 0) over the rows of the three tensors."""
    terms = ((anchor - positive).pow(2).sum(1) - (anchor - negative).pow(2).sum(1) + margin).clamp_min(0.0)
    return terms.mean(), float((terms > 0).float().mean())


def _masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def batch_hard_triplet_loss(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float = TRIPLET_MARGIN
) -> tuple[torch.Tensor, float]:
    """Each anchor with its farthest positive and nearest negative in the batch (Hermans et al.);
    anchors without a positive or a negative in the batch are left out."""
    distances = squared_distances(embeddings)
    positive, negative = _masks(labels)
    hardest_positive = torch.where(positive, distances, torch.zeros_like(distances)).max(dim=1).values
    hardest_negative = torch.where(negative, distances, torch.full_like(distances, float("inf"))).min(dim=1).values
    usable = positive.any(dim=1) & negative.any(dim=1)
    if not usable.any():
        return embeddings.sum() * 0.0, 0.0
    terms = (hardest_positive - hardest_negative + margin).clamp_min(0.0)[usable]
    return terms.mean(), float((terms > 0).float().mean())


def batch_semi_hard_triplet_loss(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float = TRIPLET_MARGIN
) -> tuple[torch.Tensor, float]:
    """Every anchor-positive pair of the batch with its semi-hard negative (FaceNet): the nearest
    negative farther than the positive, d(a,p) < d(a,n); where there is none, the farthest negative
    (as TensorFlow Addons' triplet_semihard_loss does)."""
    distances = squared_distances(embeddings)
    positive, negative = _masks(labels)
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
    usable = candidates.any(dim=1)
    if not usable.any():
        return embeddings.sum() * 0.0, 0.0
    terms = (d_ap - chosen + margin).clamp_min(0.0)[usable]
    return terms.mean(), float((terms > 0).float().mean())


def contrastive_loss(
    first: torch.Tensor, second: torch.Tensor, same: torch.Tensor, margin: float = 1.0
) -> tuple[torch.Tensor, float]:
    """Hadsell, Chopra and LeCun's loss on pairs: d^2 for a same-person pair, max(margin - d, 0)^2
    for a different-person pair (d: Euclidean distance)."""
    distance = (first - second).pow(2).sum(1).clamp_min(1e-12).sqrt()
    same = same.to(first.dtype)
    terms = same * distance.pow(2) + (1.0 - same) * (margin - distance).clamp_min(0.0).pow(2)
    active = (same > 0) | (distance < margin)
    return terms.mean(), float(active.float().mean())
