"""P x K batches and mining subsets."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.train.sampler import PKSampler


def test_batches_hold_k_faces_of_p_people_with_two_or_more_faces():
    labels = np.array([0] * 5 + [1] * 2 + [2] * 1 + [3] * 3 + [4] * 6)
    sampler = PKSampler(labels, people=3, faces_per_person=4, seed=1)
    for _ in range(50):
        rows, persons = sampler.batch()
        assert len(rows) == 12 and np.array_equal(persons, np.repeat(np.arange(3), 4))
        for number in range(3):
            drawn = labels[rows[persons == number]]
            assert len(set(drawn)) == 1 and drawn[0] != 2  # one person each, never the lone face
        people = [labels[rows[persons == n]][0] for n in range(3)]
        assert len(set(people)) == 3
        big = [n for n in range(3) if np.sum(labels == people[n]) >= 4]
        assert all(len(set(rows[persons == n])) == 4 for n in big)  # no repeats when a person has enough


def test_mining_subset_caps_faces_per_person():
    labels = np.repeat(np.arange(20), 30)
    subset = PKSampler(labels, 4, 2, seed=0).people_subset(people=5, faces_per_person=7)
    assert len(subset) == 35 and len(np.unique(labels[subset])) == 5 and len(np.unique(subset)) == 35


def test_needs_two_people_with_positives():
    with pytest.raises(ValueError):
        PKSampler(np.array([0, 0, 1]), 2, 2)
