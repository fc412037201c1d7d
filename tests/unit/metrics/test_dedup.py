"""Duplicate-group metrics against enumerating every pair of photos, and on hand-made cases."""

from __future__ import annotations

import itertools
import random

import pytest

from pipeline.metrics.dedup import ORIGINAL, dedup_metrics

KINDS = ("byte_copy", "png", "half_size", "mirrored")
LOSSLESS = {"byte_copy", "png"}


def _random_case(seed: int) -> dict:
    """A library of originals with copies, predicted groups mixing right and wrong members and
    photos left out, keepers and persons."""
    rng = random.Random(seed)
    originals, kinds, persons = {}, {}, {}
    for o in range(rng.randint(3, 12)):
        original = f"o{o}"
        originals[original], kinds[original] = original, ORIGINAL
        persons[original] = rng.choice(["ann", "bob", "cy", None])
        for c in range(rng.randint(0, 4)):
            copy = f"{original}c{c}"
            originals[copy], kinds[copy], persons[copy] = original, rng.choice(KINDS), persons[original]
    groups: dict[str, str | None] = {}
    for photo, original in originals.items():
        roll = rng.random()
        groups[photo] = f"g{original}" if roll < 0.6 else None if roll < 0.8 else f"g{rng.choice(list(originals))}"
    groups["outsider"] = "go0"  # a grouped photo the truth does not know: ignored
    members: dict[str, list[str]] = {}
    for photo, group in groups.items():
        if group is not None:
            members.setdefault(group, []).append(photo)
    keepers = {group: rng.choice(photos) for group, photos in members.items()}
    full_quality = {p for p in originals if kinds[p] == ORIGINAL or kinds[p] in LOSSLESS}
    return dict(
        groups=groups, originals=originals, kinds=kinds, full_quality=full_quality, keepers=keepers, persons=persons
    )


def _brute_force(case: dict) -> dict:
    groups, originals, kinds, persons = case["groups"], case["originals"], case["kinds"], case["persons"]
    full_quality, keepers = case["full_quality"], case["keepers"]
    photos = list(originals)
    together = lambda a, b: groups.get(a) is not None and groups.get(a) == groups.get(b)
    pairs = list(itertools.combinations(photos, 2))
    predicted = [pair for pair in pairs if together(*pair)]
    true = [pair for pair in pairs if originals[pair[0]] == originals[pair[1]]]
    found = [pair for pair in predicted if originals[pair[0]] == originals[pair[1]]]
    different = [pair for pair in predicted if originals[pair[0]] != originals[pair[1]]]
    recall_by_kind = {}
    for kind in KINDS:
        of_kind = [p for p in photos if kinds[p] == kind]
        if of_kind:
            recall_by_kind[kind] = sum(together(p, originals[p]) for p in of_kind) / len(of_kind)
    judged = [
        keepers[g] in full_quality
        for g in {groups.get(p) for p in photos} - {None}
        if any(groups.get(p) == g and p in full_quality for p in photos)
    ]
    return {
        "pairwise_precision": len(found) / len(predicted) if predicted else 1.0,
        "pairwise_recall": len(found) / len(true) if true else 1.0,
        "recall_by_kind": recall_by_kind,
        "different_photos_grouped": {
            "pairs": len(different),
            "originals": len({(groups[a], frozenset((originals[a], originals[b]))) for a, b in different}),
            "same_person": sum(bool(persons[a]) and persons[a] == persons[b] for a, b in different),
        },
        "keeper_right": sum(judged) / len(judged) if judged else None,
        "keeper_groups": len(judged),
    }


@pytest.mark.parametrize("seed", range(30))
def test_metrics_equal_enumerating_every_pair(seed: int) -> None:
    case = _random_case(seed)
    ours = dedup_metrics(**case)
    for key, value in _brute_force(case).items():
        assert ours[key] == pytest.approx(value), key


def test_hand_made_library() -> None:
    # a: original + byte copy + half-size copy; b: original + png copy; c and d: two photos of ann.
    originals = {"a": "a", "a1": "a", "a2": "a", "b": "b", "b1": "b", "c": "c", "d": "d"}
    kinds = {"a": ORIGINAL, "a1": "byte_copy", "a2": "half_size", "b": ORIGINAL, "b1": "png", "c": ORIGINAL}
    kinds["d"] = ORIGINAL
    persons = {"a": "zed", "a1": "zed", "a2": "zed", "c": "ann", "d": "ann"}
    full_quality = {"a", "a1", "b", "b1", "c", "d"}
    # found: a + a1 (not a2); b + b1 split apart; c and d wrongly grouped; a2 kept alone.
    groups = {"a": "G1", "a1": "G1", "b": "G2", "b1": None, "c": "G3", "d": "G3", "a2": None}
    metrics = dedup_metrics(groups, originals, kinds, full_quality, {"G1": "a1", "G2": "b", "G3": "c"}, persons)
    assert metrics["true_pairs"] == 4  # a-a1, a-a2, a1-a2, b-b1
    assert metrics["predicted_pairs"] == 2 and metrics["pairs_found"] == 1
    assert metrics["pairwise_precision"] == 0.5 and metrics["pairwise_recall"] == 0.25
    assert metrics["recall_by_kind"] == {"byte_copy": 1.0, "half_size": 0.0, "png": 0.0}
    assert metrics["copies_by_kind"] == {"byte_copy": 1, "half_size": 1, "png": 1}
    assert metrics["different_photos_grouped"] == {"pairs": 1, "originals": 1, "same_person": 1}
    assert metrics["keeper_right"] == 1.0 and metrics["keeper_groups"] == 3
    assert metrics["groups"] == 3 and metrics["photos_grouped"] == 5 and metrics["largest_group"] == 2


def test_keeper_of_lower_quality_is_wrong_and_groups_without_full_quality_are_not_judged() -> None:
    originals = {"a": "a", "a1": "a", "a2": "a", "b1": "b", "b2": "b", "b": "b"}
    kinds = {"a": ORIGINAL, "a1": "png", "a2": "quality_50", "b": ORIGINAL, "b1": "half_size", "b2": "crop_75"}
    groups = {"a": "G1", "a1": "G1", "a2": "G1", "b1": "G2", "b2": "G2"}
    metrics = dedup_metrics(groups, originals, kinds, {"a", "a1", "b"}, {"G1": "a2", "G2": "b1"})
    assert metrics["keeper_right"] == 0.0 and metrics["keeper_groups"] == 1  # G2 holds no full-quality photo
    assert metrics["different_photos_grouped"] == {"pairs": 0, "originals": 0, "same_person": None}
    assert dedup_metrics(groups, originals, kinds, {"a"})["keeper_right"] is None  # no keepers given


def test_nothing_grouped_is_precise_and_misses_everything() -> None:
    originals = {"a": "a", "a1": "a"}
    metrics = dedup_metrics({}, originals, {"a": ORIGINAL, "a1": "png"}, {"a", "a1"}, {})
    assert metrics["pairwise_precision"] == 1.0 and metrics["pairwise_recall"] == 0.0 and metrics["pairwise_f"] == 0.0
    assert metrics["recall_by_kind"] == {"png": 0.0} and metrics["keeper_right"] is None


def test_an_original_that_is_not_a_photo_is_refused() -> None:
    with pytest.raises(ValueError, match="originals"):
        dedup_metrics({}, {"a1": "a"}, {"a1": "png"}, set())
