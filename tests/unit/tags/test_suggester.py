"""The suggester on made-up people: names reach a person's faces and nobody else's; look-alikes, a wrong
tag, cannot-link and rejections hold; scores and the min_precision cut."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pipeline.config import Config
from pipeline.search.knn_graph import knn_graph
from pipeline.similarity.thresholds import REFERENCE_MODEL
from pipeline.tags.propagation import NO_NAME, propagate_names
from pipeline.tags.scores import ScoreTable, _isotonic, precision_cut, score_table
from pipeline.tags.suggest_job import suggest_rules, suggestion_graph
from pipeline.tags.suggester import Suggested, SuggestRules, suggest_names
from pipeline.tags.suspects import SuspectRule, suspect_tags
from tests.tables import people_vectors

# a model's prior measured beforehand: 999 of 1,000 held-out names right from similarity 0.45 up
PRIOR = ScoreTable(np.array([0.45]), np.array([0.999]), np.array([1000]), np.array([999]))
RULES = suggest_rules(Config(), REFERENCE_MODEL)[0]  # the defaults, for the default model


def suggest(
    vectors: np.ndarray,
    photos: np.ndarray,
    tags: np.ndarray,
    prior: ScoreTable | None = None,
    rules: SuggestRules = RULES,
) -> Suggested:
    """suggest_names on the faces' kNN graph, built as the suggest job builds it."""
    return suggest_names(vectors, photos, tags, [], suggestion_graph(vectors, rules, Config()), rules, prior)


def world(sizes: dict[str, int], tagged: dict[str, int], seed: int = 0, like: dict | None = None):
    """(people per face, vectors, tags: a name id per face (the first ``tagged[p]`` faces of p), names,
    photos: one photo per face)."""
    people, vectors = people_vectors(sizes, seed=seed, like=like)
    people = np.array(people)
    names = sorted(tagged)
    tags = np.full(len(people), NO_NAME, np.int64)
    for i, name in enumerate(names):
        tags[np.flatnonzero(people == name)[: tagged[name]]] = i
    return people, vectors, tags, names, np.arange(len(people))


def named_people(people: np.ndarray, names: list[str], name_ids: np.ndarray) -> dict[str, dict[str, int]]:
    """person -> {name given: how many of their faces}."""
    found: dict[str, dict[str, int]] = {}
    for person, name in zip(people, name_ids):
        if name != NO_NAME:
            found.setdefault(str(person), {}).setdefault(names[name], 0)
            found[str(person)][names[name]] += 1
    return found


def test_a_name_reaches_its_person_and_no_stranger() -> None:
    people, vectors, tags, names, photos = world({"anna": 30, "bob": 12, "stranger": 25}, {"anna": 2, "bob": 1})
    found = suggest(vectors, photos, tags, PRIOR)
    given = named_people(people[found.rows], names, found.naming.name[found.rows])
    assert given == {"anna": {"anna": 28}, "bob": {"bob": 11}}
    assert np.all(found.scores > 0.99) and found.describe()["cut_by_min_precision"] == 0


def test_three_tags_and_no_prior_measure_nothing_so_nothing_is_suggested() -> None:
    """One held-out name is no measurement of precision: without the model's prior, no name passes 0.99."""
    people, vectors, tags, names, photos = world({"anna": 30, "bob": 12, "stranger": 25}, {"anna": 2, "bob": 1})
    found = suggest(vectors, photos, tags)
    assert not len(found.rows) and found.describe()["cut_by_min_precision"] == 39
    assert len(suggest(vectors, photos, tags, rules=replace(RULES, min_precision=0.5)).rows) == 39


def test_a_look_alike_tagged_does_not_name_the_untagged_brother() -> None:
    """60 untagged photos of one brother, 8 of the other (2 tagged): their centres 0.75 similar, so the
    faces of the two are 0.54 similar on average (0.73 at most; LFW's Bush brothers: 0.5 to 0.56), past
    the 0.5 the nearest-tag rule names at. (At centres 0.8, faces 0.57 / 0.76, the name gets through.)"""
    sizes, like = {"george": 60, "jeb": 8}, {"jeb": ("george", 0.75)}
    people, vectors, tags, names, photos = world(sizes, {"jeb": 2}, like=like)
    nearest_tag = (vectors @ vectors[tags != NO_NAME].T).max(axis=1)
    assert np.sum((people == "george") & (nearest_tag >= 0.5)) > 50  # what the nearest-tag rule would name
    found = suggest(vectors, photos, tags, PRIOR)
    assert named_people(people[found.rows], names, found.naming.name[found.rows]) == {"jeb": {"jeb": 6}}


def test_a_wrong_tag_is_suspect_and_does_not_spread() -> None:
    """One photo of carl tagged "anna" (anna has 3 right tags, carl none): the tag is left out and no
    photo of carl is named anna."""
    people, vectors, tags, names, photos = world({"anna": 20, "carl": 20}, {"anna": 3})
    wrong = np.flatnonzero(people == "carl")[0]
    tags[wrong] = names.index("anna")
    tagged = np.flatnonzero(tags != NO_NAME)
    suspect = suspect_tags(vectors[tagged], tags[tagged], SuspectRule(same_person=0.6, closer_by=0.1, odd_one_out=0.3))
    assert tagged[suspect].tolist() == [wrong]
    found = suggest(vectors, photos, tags, PRIOR)
    assert named_people(people[found.rows], names, found.naming.name[found.rows]) == {"anna": {"anna": 17}}


def graph(vectors: np.ndarray, k: int = 20):
    return knn_graph(vectors, min(k, len(vectors) - 1))


def test_two_faces_of_one_photo_never_get_the_same_name() -> None:
    people, vectors, tags, names, photos = world({"anna": 10}, {"anna": 1})
    photos = photos.copy()
    photos[5] = photos[6]  # two faces of anna in one photo (a mirror, a poster): only one is anna
    naming = propagate_names(vectors, *graph(vectors), tags, photos, RULES.naming)
    assert np.sum(naming.name != NO_NAME) == 8
    assert (naming.name[5] == NO_NAME) != (naming.name[6] == NO_NAME)


def test_a_rejected_name_is_never_given_and_holds_back_the_faces_near_the_rejection() -> None:
    """A cousin looks like anna (faces 0.6 similar): rejecting anna on one cousin photo keeps the name
    off it and off the cousin's other photos (as near to it as to any anna), not off anna's photos."""
    sizes, like = {"anna": 12, "cousin": 6}, {"cousin": ("anna", 0.85)}
    people, vectors, tags, names, photos = world(sizes, {"anna": 2}, like=like)
    config = RULES.naming
    before = propagate_names(vectors, *graph(vectors), tags, photos, config)
    assert named_people(people, names, before.name) == {"anna": {"anna": 10}, "cousin": {"anna": 6}}
    rejected = np.flatnonzero(people == "cousin")[0]
    after = propagate_names(vectors, *graph(vectors), tags, photos, config, [(rejected, 0)])
    given = named_people(people, names, after.name)
    assert "cousin" not in given and given["anna"]["anna"] >= 8  # anna's photos as near the cousin: held back


def test_names_pass_through_named_faces() -> None:
    """A chain of faces, each 0.75 from the next, ever further from the tag: the name travels step by step."""
    rng = np.random.default_rng(1)
    start, turn = rng.normal(size=64), rng.normal(size=64)
    start /= np.linalg.norm(start)
    turn -= turn @ start * start
    turn /= np.linalg.norm(turn)
    angles = np.arange(6) * np.arccos(0.75)  # 0.75 between neighbours along a great circle
    vectors = (np.cos(angles)[:, None] * start + np.sin(angles)[:, None] * turn).astype(np.float32)
    tags = np.array([0] + [NO_NAME] * 5)
    config = replace(RULES.naming, direct_similarity=-0.99)
    naming = propagate_names(vectors, *graph(vectors, 2), tags, np.arange(6), config)
    assert naming.name[1:].tolist() == [0] * 5 and naming.hops[1:].tolist() == [1, 2, 3, 4, 5]
    assert naming.seed[1:].tolist() == [0] * 5


def test_isotonic_pools_the_bins_that_go_down() -> None:
    assert _isotonic(np.array([0.9, 0.8, 1.0]), np.array([1, 1, 2])).tolist() == pytest.approx([0.85, 0.85, 1.0])


def test_score_table_bins_by_similarity_and_never_goes_down() -> None:
    rng = np.random.default_rng(0)
    direct = rng.uniform(0.45, 0.9, 2000)
    right = (rng.uniform(size=2000) < np.where(direct < 0.55, 0.8, 1.0)).astype(float)
    table = score_table(direct, right)
    assert np.all(np.diff(table.precision) >= 0) and table.named.sum() == 2000
    assert np.all(table.named >= 40) and np.all(np.diff(table.edges) >= 0.02 - 1e-9)
    low, high = table.score(np.array([0.46, 0.85]))
    assert 0.75 < low < 0.85 and high > 0.99


def test_a_few_held_out_names_lean_on_the_prior() -> None:
    direct, right = np.full(10, 0.7), np.ones(10)
    alone = score_table(direct, right).score(np.array([0.7]))[0]
    leaning = score_table(direct, right, PRIOR).score(np.array([0.7]))[0]
    assert alone == pytest.approx((10 + 20 * 11 / 12) / 30) and leaning == pytest.approx((10 + 20 * 0.999) / 30)
    assert score_table(np.zeros(0), np.zeros(0), PRIOR) is PRIOR


def test_the_cut_keeps_the_best_while_their_mean_holds() -> None:
    scores = np.array([0.9, 1.0, 0.995, 0.98, 0.999])
    assert precision_cut(scores, 0.99).tolist() == [False, True, True, True, True]
    assert precision_cut(scores, 0.5).all() and not precision_cut(scores, 1.01).any()
