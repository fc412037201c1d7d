"""P x K batches for metric learning: P people, K faces of each (drawn again only when a person has
fewer than K), so that every face of a batch has positives and negatives beside it."""

from __future__ import annotations

import numpy as np


class PKSampler:
    """Batches of row numbers over ``labels`` (one person label per face); people with a single face
    are never drawn (they cannot be anchors). ``seed`` differs per training worker."""

    def __init__(self, labels: np.ndarray, people: int, faces_per_person: int, seed: int = 0):
        labels = np.asarray(labels)
        order = np.argsort(labels, kind="stable")
        starts = np.flatnonzero(np.r_[True, labels[order][1:] != labels[order][:-1]])
        groups = np.split(order, starts[1:])
        self.groups = [group for group in groups if len(group) >= 2]
        if len(self.groups) < 2:
            raise ValueError("PK batches need at least two people with two or more faces")
        self.people, self.faces_per_person = min(people, len(self.groups)), faces_per_person
        self.rng = np.random.default_rng(seed)

    def batch(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, person number within the batch) of one batch of P x K faces."""
        rows, persons = [], []
        for number, g in enumerate(self.rng.choice(len(self.groups), self.people, replace=False)):
            group = self.groups[g]
            rows.append(self.rng.choice(group, self.faces_per_person, replace=len(group) < self.faces_per_person))
            persons.append(np.full(self.faces_per_person, number))
        return np.concatenate(rows), np.concatenate(persons)

    def people_subset(self, people: int, faces_per_person: int) -> np.ndarray:
        """Up to ``faces_per_person`` faces of each of ``people`` people drawn at random: a mining subset."""
        chosen = self.rng.choice(len(self.groups), min(people, len(self.groups)), replace=False)
        picked = [
            self.rng.choice(self.groups[g], min(faces_per_person, len(self.groups[g])), replace=False) for g in chosen
        ]
        return np.sort(np.concatenate(picked))
