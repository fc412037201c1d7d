"""Readers of the labelled files facepipe is measured and trained with: LFW pairs files, LFW's
people.txt sets, and CSVs of uri,person."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ConfigError


@dataclass(frozen=True)
class LfwPair:
    """One verification pair: fold index (0-based), ground truth, and two image paths
    relative to the LFW images folder (``Name/Name_0001.jpg``)."""

    fold: int
    same: bool
    a: str
    b: str


def _lfw_image(name: str, number: str) -> str:
    return f"{name}/{name}_{int(number):04d}.jpg"


def read_lfw_pairs(path: str | Path) -> list[LfwPair]:
    """Read an LFW pairs file (pairs.txt with header ``folds pairs_per_fold``, or
    pairsDevTrain/pairsDevTest.txt with header ``pairs``, read as one fold 0) into
    LfwPair rows in file order. Raises ValueError when the file does not follow the format."""
    lines = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
    header, rows = lines[0], lines[1:]
    if len(header) == 2:
        num_folds, per_fold = int(header[0]), int(header[1])
    elif len(header) == 1:
        num_folds, per_fold = 1, int(header[0])
    else:
        raise ValueError(f"{path}: header must be 'folds pairs' or 'pairs', got {header}")
    if len(rows) != num_folds * 2 * per_fold:
        raise ValueError(f"{path}: header promises {num_folds * 2 * per_fold} pairs, file has {len(rows)}")
    pairs = []
    for position, fields in enumerate(rows):
        fold, within = divmod(position, 2 * per_fold)
        same = within < per_fold
        if same and len(fields) == 3:
            name, i, j = fields
            pairs.append(LfwPair(fold, True, _lfw_image(name, i), _lfw_image(name, j)))
        elif not same and len(fields) == 4:
            name_a, i, name_b, j = fields
            pairs.append(LfwPair(fold, False, _lfw_image(name_a, i), _lfw_image(name_b, j)))
        else:
            kind = "same (name i j)" if same else "different (name1 i name2 j)"
            raise ValueError(f"{path}: line {position + 2} should be a {kind} pair: {fields}")
    return pairs


def read_people_sets(path: str | Path) -> list[list[str]]:
    """LFW's people.txt: a line with the number of sets, then per set a count and that many
    ``name images`` lines. Returns the names of each set."""
    lines = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
    sets, position = [], 1
    for _ in range(int(lines[0][0])):
        count = int(lines[position][0])
        sets.append([fields[0] for fields in lines[position + 1 : position + 1 + count]])
        position += 1 + count
    if position != len(lines):
        raise ValueError(f"{path}: {len(lines) - position} lines after the last set")
    return sets


def read_labels(path: str) -> dict[str, str]:
    """uri -> person from a CSV with columns ``uri,person`` (paths resolved like the tables' uris)."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"uri", "person"} <= set(reader.fieldnames):
            raise ConfigError(f"{path} must be a CSV with columns uri,person")
        return {row["uri"] if "://" in row["uri"] else str(Path(row["uri"]).resolve()): row["person"] for row in reader}
