"""Loss objects and their in-batch mining against brute-force enumeration of every triplet on small tensors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from pipeline.train.losses import (
    BatchHardTripletLoss,
    BatchSemiHardTripletLoss,
    ContrastiveLoss,
    TripletLoss,
    squared_distances,
)


def _batch(seed: int, people: int = 4, per_person: int = 3, dim: int = 8):
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.nn.functional.normalize(
        torch.randn(people * per_person, dim, generator=generator, dtype=torch.float64), dim=1
    )
    labels = torch.arange(people).repeat_interleave(per_person)
    return embeddings, labels


def _d(e, i, j) -> float:
    return float(((e[i] - e[j]) ** 2).sum())


def test_squared_distances_match_pairwise():
    e, _ = _batch(0)
    expected = torch.tensor([[_d(e, i, j) for j in range(len(e))] for i in range(len(e))], dtype=e.dtype)
    assert torch.allclose(squared_distances(e), expected, atol=1e-12)


def test_triplet_loss_is_facenet_hinge():
    e, labels = _batch(1)
    indices = (torch.tensor([0, 3, 6]), torch.tensor([1, 4, 7]), torch.tensor([9, 10, 2]))
    expected = [max(_d(e, i, j) - _d(e, i, k) + 0.2, 0.0) for i, j, k in [(0, 1, 9), (3, 4, 10), (6, 7, 2)]]
    loss, active = TripletLoss(0.2)(e, labels, indices)
    assert loss.item() == pytest.approx(np.mean(expected))
    assert active == pytest.approx(np.mean([x > 0 for x in expected]))


@pytest.mark.parametrize("seed", range(5))
def test_batch_hard_matches_enumeration(seed: int):
    e, labels = _batch(seed)
    lab = labels.tolist()
    terms = []
    for a in range(len(e)):
        d_ap = max(_d(e, a, p) for p in range(len(e)) if p != a and lab[p] == lab[a])
        d_an = min(_d(e, a, n) for n in range(len(e)) if lab[n] != lab[a])
        terms.append(max(d_ap - d_an + 0.2, 0.0))
    loss, active = BatchHardTripletLoss(0.2)(e, labels)
    assert loss.item() == pytest.approx(np.mean(terms))
    assert active == pytest.approx(np.mean([t > 0 for t in terms]))


@pytest.mark.parametrize("seed", range(5))
def test_batch_semi_hard_matches_enumeration(seed: int):
    e, labels = _batch(seed, people=3, per_person=4, dim=4)  # low dimension: every kind of negative occurs
    lab = labels.tolist()
    terms = []
    for a, p in itertools.permutations(range(len(e)), 2):
        if lab[a] != lab[p]:
            continue
        d_ap = _d(e, a, p)
        negatives = [_d(e, a, n) for n in range(len(e)) if lab[n] != lab[a]]
        farther = [d for d in negatives if d > d_ap]
        d_an = min(farther) if farther else max(negatives)
        terms.append(max(d_ap - d_an + 0.2, 0.0))
    loss, active = BatchSemiHardTripletLoss(0.2)(e, labels)
    assert loss.item() == pytest.approx(np.mean(terms))
    assert active == pytest.approx(np.mean([t > 0 for t in terms]))


def test_batch_losses_without_positives_are_zero_and_differentiable():
    e = torch.nn.functional.normalize(torch.randn(4, 8), dim=1).requires_grad_()
    for loss_fn in (BatchHardTripletLoss(), BatchSemiHardTripletLoss()):
        loss, active = loss_fn(e, torch.arange(4))
        loss.backward()
        assert loss.item() == 0.0 and active == 0.0


def test_contrastive_matches_definition():
    e, labels = _batch(3)
    same_pairs, other_pairs = [(0, 1), (3, 4)], [(1, 5), (2, 9), (6, 0)]
    indices = tuple(torch.tensor(list(column)) for pairs in (same_pairs, other_pairs) for column in zip(*pairs))
    margin = 1.2
    expected = [_d(e, i, j) for i, j in same_pairs]
    expected += [max(margin - np.sqrt(_d(e, i, j)), 0.0) ** 2 for i, j in other_pairs]
    active = [1] * len(same_pairs) + [np.sqrt(_d(e, i, j)) < margin for i, j in other_pairs]
    loss, got_active = ContrastiveLoss(margin)(e, labels, indices)
    assert loss.item() == pytest.approx(np.mean(expected))
    assert got_active == pytest.approx(np.mean(active))
