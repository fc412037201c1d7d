"""The seeded LFW tagging protocol: who is known, which of their photos are tagged, which tags carry a wrong name."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCHEDULE = (1, 1, 2, 3, 5, 10)  # tagged photos of the known people, in turn
KNOWN_SHARE = 0.75  # of the people with at least two photos
WRONG_SHARE = 0.01  # of the tags, named as another known person


@dataclass(frozen=True)
class TagsProtocol:
    """One draw of the protocol: ``tags`` (face id -> name, the wrong ones included), ``known`` (the
    people tagged), ``wrong`` (face id -> the wrong name its tag carries) and ``eligible`` (how many
    people had at least two photos)."""

    tags: dict[str, str]
    known: list[str]
    wrong: dict[str, str]
    eligible: int


def lfw_person(uri: str) -> str:
    """The person of an LFW photo: its folder's name."""
    return os.path.basename(os.path.dirname(uri))


def draw_tags(
    faces_by_person: Mapping[str, Sequence[str]],
    seed: int,
    schedule: Sequence[int] = SCHEDULE,
    known_share: float = KNOWN_SHARE,
    wrong_share: float = WRONG_SHARE,
) -> TagsProtocol:
    """The protocol over ``faces_by_person`` (person -> the face ids that stand for their photos, one
    a photo): ``known_share`` of the people with at least two photos are known, drawn with ``seed``;
    the i-th known person gets ``schedule[i % len(schedule)]`` photos tagged (at most all of their
    photos but one); ``wrong_share`` of the tags (rounded) carry another known person's name."""
    rng = np.random.default_rng(seed)
    eligible = sorted(person for person, faces in faces_by_person.items() if len(faces) >= 2)
    known = [eligible[i] for i in rng.permutation(len(eligible))[: round(known_share * len(eligible))]]
    tags: dict[str, str] = {}
    for i, person in enumerate(known):
        faces = sorted(faces_by_person[person])
        count = min(schedule[i % len(schedule)], len(faces) - 1)
        tags.update((faces[j], person) for j in rng.choice(len(faces), count, replace=False))
    wrong: dict[str, str] = {}
    if len(known) >= 2:
        tagged = list(tags)
        for j in sorted(rng.choice(len(tagged), round(wrong_share * len(tagged)), replace=False)):
            others = [person for person in known if person != tags[tagged[j]]]
            wrong[tagged[j]] = others[rng.integers(len(others))]
    return TagsProtocol({**tags, **wrong}, known, wrong, len(eligible))


def write_protocol(protocol: TagsProtocol, persons: Mapping[str, str], folder: Path) -> tuple[Path, Path]:
    """``folder``/tags.csv (face_id,name) and ``folder``/truth.csv (uri,person, from ``persons``:
    uri -> person); returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    tags_csv, truth_csv = folder / "tags.csv", folder / "truth.csv"
    for path, header, rows in (
        (tags_csv, ("face_id", "name"), sorted(protocol.tags.items())),
        (truth_csv, ("uri", "person"), sorted(persons.items())),
    ):
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
    return tags_csv, truth_csv
