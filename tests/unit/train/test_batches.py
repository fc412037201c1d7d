"""Batch sources of the online objectives: P x K batches as they are, and with contrastive pairs."""

from __future__ import annotations

import numpy as np
import torch

from pipeline.train.batches import Batch, PKBatches, PKPairs
from pipeline.train.sampler import PKSampler

LABELS = np.repeat(np.arange(10), 6)


def test_pk_batches_carry_the_sampler_batch_and_no_indices():
    batch = PKBatches(PKSampler(LABELS, people=4, faces_per_person=3, seed=2))(step=1)
    rows, persons = PKSampler(LABELS, people=4, faces_per_person=3, seed=2).batch()
    assert np.array_equal(batch.rows, rows) and np.array_equal(batch.labels, persons) and batch.indices is None


def test_contrastive_pairs_join_each_face_to_another_face_of_its_person_and_to_someone_else():
    pairs = PKPairs(PKSampler(LABELS, people=4, faces_per_person=3, seed=0), np.random.default_rng(0))
    partners_seen = set()
    for step in range(1, 30):
        batch = pairs(step)
        same_first, same_second, other_first, other_second = batch.indices
        everyone = np.arange(len(batch.rows))
        assert np.array_equal(same_first, everyone) and np.array_equal(other_first, everyone)
        assert np.all(same_second != same_first)  # never a face with itself
        assert np.all(LABELS[batch.rows[same_first]] == LABELS[batch.rows[same_second]])
        assert np.all(LABELS[batch.rows[other_first]] != LABELS[batch.rows[other_second]])
        partners_seen.update(zip(same_first.tolist(), same_second.tolist()))
    assert len(partners_seen) == 12 * 2  # every other face of a person is drawn as a partner


def test_contrastive_pairs_stay_across_people_when_fewer_people_than_asked_exist():
    labels = np.repeat(np.arange(3), 4)  # P = 8 asked, 3 people there
    batch = PKPairs(PKSampler(labels, people=8, faces_per_person=2, seed=1), np.random.default_rng(1))(step=1)
    _, _, first, second = batch.indices
    assert len(batch.rows) == 6 and np.all(labels[batch.rows[first]] != labels[batch.rows[second]])


def test_targets_are_tensors_on_the_device():
    batch = Batch(np.array([4, 5, 6]), np.array([0, 0, 1]), (np.array([0]), np.array([1]), np.array([2])))
    labels, indices = batch.targets(torch.device("cpu"))
    assert labels.tolist() == [0, 0, 1] and [i.tolist() for i in indices] == [[0], [1], [2]]
    assert Batch(np.array([1]), np.array([0])).targets(torch.device("cpu"))[1] is None
