"""The merge rule a collection calibrates for itself: how similar two groups of faces must be to be
one person, measured against how similar the collection's faces of different people are.

The different-person level (the threshold service's ``different_person_level``) is the median cosine
similarity of random pairs of faces that a conservative first clustering put in different groups: most
random pairs of a collection are two different people, and leaving out the pairs the first pass grouped
keeps a library dominated by a few people (whose random pairs are often the same person) from looking
more alike than it is. Two single faces then merge when their similarity exceeds that level by
``cluster.single_margin``; larger groups by less, down to ``cluster.group_margin`` (the mean of many
pairs of two different people strays less from their level). Chosen by measurement on LFW and pins
(README: People): LFW's faces of different people sit at 0.09, pins' at 0.06, and a threshold fixed
for one collection splits people on the other or merges them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.people.linkage import MergeRule, grouped_linkage
from pipeline.runtime.tasks import Tasks
from pipeline.similarity.thresholds import collection_threshold, different_person_level


@dataclass(frozen=True)
class MergeMargins:
    """How far above a collection's different-person level two single faces (``single``) and large
    groups (``group``) merge (cluster.single_margin, cluster.group_margin); ``ceiling``: the highest level
    the collection may measure (None: any). A small collection mostly of one person measures the
    similarity of that person's faces: its level is capped at the model's (the median similarity of the
    different-person pairs it was calibrated on)."""

    single: float
    group: float
    ceiling: float | None = None


@dataclass(frozen=True)
class Calibration:
    """The merge rule chosen for a collection, and what it was chosen from (for summaries and reports)."""

    rule: MergeRule
    impostor_level: float | None  # None: cluster.similarity fixed the rule
    pairs: int
    measured: float | None = None  # the level the collection measured, when the model's replaced it
    from_model: bool = False  # the model's level (MergeMargins.ceiling) replaced the collection's

    def describe(self) -> dict:
        if self.impostor_level is None:
            return {"source": "cluster.similarity", "single_faces": self.rule.single, "large_groups": self.rule.group}
        single, group = round(self.rule.single, 4), round(self.rule.group, 4)
        merge = f"two single faces merge from {single:.3f}, large groups from {group:.3f}"
        if self.from_model:
            measured = (
                f"the {self.pairs} random pairs outside the first pass's groups measured {self.measured:.3f}"
                if self.measured is not None
                else "no pair is left outside the first pass's groups"
            )
            why = (
                f"too few faces of different people here to measure how alike they are ({measured}): the model's "
                f"level, {self.impostor_level:.3f}, is used: {merge}"
            )
        else:
            why = (
                f"faces of different people in this collection are {self.impostor_level:.3f} similar (median of "
                f"{self.pairs} random pairs outside the first pass's groups): {merge}"
            )
        return {
            "source": "model" if self.from_model else "calibrated",
            "impostor_level": round(self.impostor_level, 4),
            "pairs": self.pairs,
            "single_faces": single,
            "large_groups": group,
            "why": why,
        }


def rule_from(described: dict) -> MergeRule:
    """The rule a clustering's ``Calibration.describe()`` recorded."""
    return MergeRule(described["single_faces"], described["large_groups"])


def rule_for(level: float, margins: MergeMargins) -> MergeRule:
    """The merge rule at a collection's different-person level."""
    return MergeRule(collection_threshold(level, margins.single), collection_threshold(level, margins.group))


def calibrated(vectors: np.ndarray, margins: MergeMargins, seed: int, groups: np.ndarray | None = None) -> Calibration:
    """The rule at the different-person level of unit ``vectors`` (leaving out pairs of one group when
    ``groups``, a group id per face, is given; pairs drawn with ``seed``), at most ``margins.ceiling``, which
    also stands for a level no pair is left to measure."""
    level, pairs = different_person_level(vectors, groups, seed)
    if margins.ceiling is not None and (not pairs or level > margins.ceiling):
        return Calibration(rule_for(margins.ceiling, margins), margins.ceiling, pairs, level if pairs else None, True)
    return Calibration(rule_for(level, margins), level, pairs)


def preliminary(vectors: np.ndarray, margins: MergeMargins, seed: int, fixed: float | None = None) -> Calibration:
    """The rule from all random pairs (before any grouping), or the ``fixed`` one (cluster.similarity)."""
    if fixed is not None:
        return Calibration(MergeRule(fixed, fixed), None, 0)
    return calibrated(vectors, margins, seed)


def merge_rule_from_first_pass(
    vectors: np.ndarray,
    edges: tuple[np.ndarray, np.ndarray, np.ndarray],
    first: Calibration,
    margins: MergeMargins,
    seed: int,
    tasks: Tasks,
) -> Calibration:
    """The rule for clustering ``vectors`` along their kNN graph's ``edges`` (a, b, similarities): the
    ``first`` (preliminary) rule's clustering is the conservative first pass whose groups the level
    leaves out (its level is at least the final one: pairs of one person only raise a median)."""
    if first.impostor_level is None:
        return first
    groups = grouped_linkage(*edges, vectors, first.rule, tasks)
    return calibrated(vectors, margins, seed, groups)
