"""Names suggested for untagged faces scored against who is in them: hand cases and brute-force checks."""

from __future__ import annotations

import random

import pytest

from pipeline.metrics.tags import BUCKETS, tag_metrics, tags_bucket


def test_buckets() -> None:
    assert [tags_bucket(n) for n in (0, 1, 2, 4, 5, 10)] == [None, "1", "2-4", "2-4", "5+", "5+"]


def test_hand_case() -> None:
    # Ann: 1 tag (a1), Bob: 5 tags (b1..b5); Cat and Dan never tagged.
    truth = {
        "a1": "Ann", "a2": "Ann", "a3": "Ann",
        **{f"b{i}": "Bob" for i in range(1, 8)},
        "c1": "Cat", "c2": "Cat", "d1": "Dan", "x": None,
    }  # fmt: skip
    tagged = {"a1", "b1", "b2", "b3", "b4", "b5"}
    predicted = {
        "a2": "Ann",  # right
        "a3": "Bob",  # a known person given another's name
        "b6": "Bob",  # right; b7 left unnamed
        "c1": "Ann",  # a stranger named
        "d1": "Bob",  # a stranger named
        "b1": "Ann",  # a tagged face: not scored
        "x": "Ann",  # no truth: not scored
        "y": "Bob",  # not in the truth at all
    }
    m = tag_metrics(truth, {"Ann", "Bob"}, {"Ann": 1, "Bob": 5}, tagged, predicted)
    assert m["precision"] == pytest.approx(2 / 5)
    assert m["coverage"] == pytest.approx(2 / 4)  # a2, a3, b6, b7
    assert m["false_alarm"] == pytest.approx(2 / 3)  # c1, d1 of c1, c2, d1
    one, some, many = (m["by_tags_per_person"][b] for b in BUCKETS)
    assert one == {
        "precision": 1 / 2, "coverage": 1 / 2, "false_alarm": 1 / 3, "people": 1,
        "faces_to_name": 2, "names_given": 2, "right_names": 1, "strangers_named": 1,
    }  # fmt: skip
    assert some["people"] == 0 and some["precision"] is None and some["coverage"] is None
    assert some["false_alarm"] == 0
    assert many == {
        "precision": 1 / 3, "coverage": 1 / 2, "false_alarm": 1 / 3, "people": 1,
        "faces_to_name": 2, "names_given": 3, "right_names": 1, "strangers_named": 1,
    }  # fmt: skip
    assert m["counts"] == {
        "scored_faces": 13, "tagged_faces": 6, "faces_to_name": 4, "stranger_faces": 3, "names_given": 5,
        "right_names": 2, "known_people": 2, "strangers": 2, "wrong_names_on_known": 1, "strangers_named": 2,
        "names_on_unscored_faces": 2,
    }  # fmt: skip


def test_nothing_to_score_gives_none() -> None:
    m = tag_metrics({"a1": "Ann"}, {"Ann"}, {"Ann": 1}, {"a1"}, {})
    assert m["precision"] is None and m["coverage"] is None and m["false_alarm"] is None
    assert m["counts"]["scored_faces"] == 1 and m["counts"]["tagged_faces"] == 1


def test_perfect_names() -> None:
    truth = {f"{p}{i}": p for p in "abc" for i in range(4)}
    tagged = {"a0", "b0", "b1"}
    predicted = {face: person for face, person in truth.items() if person != "c"}
    m = tag_metrics(truth, {"a", "b"}, {"a": 1, "b": 2}, tagged, predicted)
    assert (m["precision"], m["coverage"], m["false_alarm"]) == (1.0, 1.0, 0.0)
    assert m["by_tags_per_person"]["1"]["coverage"] == 1.0 and m["by_tags_per_person"]["2-4"]["coverage"] == 1.0


def _brute_force(truth, known, tags_per_person, tagged, predicted) -> dict:
    """Each figure counted on its own from its definition, one comprehension each."""
    scored = [f for f, p in truth.items() if p is not None and f not in tagged]
    named = [f for f in scored if predicted.get(f) is not None]
    right = [f for f in named if predicted[f] == truth[f]]
    to_name = [f for f in scored if truth[f] in known]
    strangers = [f for f in scored if truth[f] not in known]
    strangers_named = [f for f in strangers if predicted.get(f) is not None]
    share = lambda a, b: len(a) / len(b) if b else None
    out = {
        "precision": share(right, named),
        "coverage": share(right, to_name),
        "false_alarm": share(strangers_named, strangers),
    }
    bucket = lambda person: tags_bucket(tags_per_person.get(person, 0)) if person in known else None
    for b in BUCKETS:
        out[b] = (
            share([f for f in right if bucket(truth[f]) == b], [f for f in named if bucket(predicted[f]) == b]),
            share([f for f in right if bucket(truth[f]) == b], [f for f in to_name if bucket(truth[f]) == b]),
            share([f for f in strangers_named if bucket(predicted[f]) == b], strangers),
        )
    return out


@pytest.mark.parametrize("seed", range(20))
def test_against_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    people = [f"p{i}" for i in range(rng.randint(1, 12))]
    known = set(rng.sample(people, rng.randint(0, len(people))))
    tags_per_person = {p: rng.choice([0, 1, 1, 2, 3, 5, 10]) for p in known}
    truth = {f"f{i}": rng.choice([*people, None]) for i in range(rng.randint(0, 80))}
    tagged = {f for f, p in truth.items() if p in known and rng.random() < 0.3}
    names = [*sorted(known), "nobody", None, None]
    predicted = {f: rng.choice(names) for f in [*truth, "extra1", "extra2"] if rng.random() < 0.8}
    m = tag_metrics(truth, known, tags_per_person, tagged, predicted)
    expected = _brute_force(truth, known, tags_per_person, tagged, predicted)
    for key in ("precision", "coverage", "false_alarm"):
        assert m[key] == pytest.approx(expected[key])
    for b in BUCKETS:
        got = m["by_tags_per_person"][b]
        assert (got["precision"], got["coverage"], got["false_alarm"]) == pytest.approx(expected[b])
    # the buckets add up to the whole where every known person has a tagged face and names are known
    if all(tags_per_person[p] > 0 for p in known) and m["counts"]["stranger_faces"]:
        total = sum(m["by_tags_per_person"][b]["strangers_named"] for b in BUCKETS)
        in_known = sum(1 for f, p in truth.items() if p is not None and p not in known and predicted.get(f) in known)
        assert total == in_known
