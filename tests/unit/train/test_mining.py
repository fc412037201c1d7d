"""Offline mining against brute force over every (anchor, positive, negative) of a small set, and the
miner that runs it on a schedule during training."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.train.mining import Mining, OfflineTripletMiner, hardest_positives, mine_triplets
from pipeline.train.sampler import PKSampler


def _faces(seed: int, people: int = 12, per_person: int = 5, dim: int = 6):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((people, dim))
    labels = np.repeat(np.arange(people), per_person)
    vectors = centres[labels] + 0.9 * rng.standard_normal((len(labels), dim))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    single = rng.standard_normal((3, dim)).astype(np.float32)  # people seen once: never anchors
    vectors = np.vstack([vectors, single / np.linalg.norm(single, axis=1, keepdims=True)])
    return vectors, np.r_[labels, people + np.arange(3)]


def _brute(vectors, labels, strategy, margin=0.2):
    d = np.maximum(2 - 2 * vectors.astype(np.float64) @ vectors.T.astype(np.float64), 0)
    expected = {}
    for a in range(len(labels)):
        positives = [p for p in range(len(labels)) if p != a and labels[p] == labels[a]]
        if not positives:
            continue
        p = max(positives, key=lambda j: d[a, j])
        negatives = [n for n in range(len(labels)) if labels[n] != labels[a]]
        if strategy == "semi_hard":
            negatives = [n for n in negatives if d[a, p] < d[a, n] < d[a, p] + margin]
        if negatives:
            expected[a] = (p, min(negatives, key=lambda j: d[a, j]))
    return expected


@pytest.mark.parametrize("strategy", ["hard", "semi_hard"])
@pytest.mark.parametrize("seed", range(3))
def test_mining_matches_brute_force(strategy: str, seed: int):
    vectors, labels = _faces(seed)
    triplets = mine_triplets(vectors, labels, strategy, neighbours=len(labels))  # every face searched
    got = {int(a): (int(p), int(n)) for a, p, n in zip(triplets.anchor, triplets.positive, triplets.negative)}
    expected = _brute(vectors, labels, strategy)
    assert got == expected and len(got) > 10
    d = np.maximum(2 - 2 * vectors.astype(np.float64) @ vectors.T.astype(np.float64), 0)
    assert np.allclose(triplets.d_ap, d[triplets.anchor, triplets.positive], atol=1e-5)
    assert np.allclose(triplets.d_an, d[triplets.anchor, triplets.negative], atol=1e-5)
    if strategy == "semi_hard":
        assert np.all((triplets.d_an > triplets.d_ap) & (triplets.d_an < triplets.d_ap + 0.2))


def test_semi_hard_skips_anchors_whose_window_lies_beyond_the_neighbours_searched():
    vectors, labels = _faces(0)
    few = mine_triplets(vectors, labels, "semi_hard", neighbours=3)
    full = _brute(vectors, labels, "semi_hard")
    assert len(few) < len(full)
    assert all(full[int(a)] == (int(p), int(n)) for a, p, n in zip(few.anchor, few.positive, few.negative))


def test_hardest_positive_of_a_lone_face_is_none():
    vectors, labels = _faces(1)
    positive, distance = hardest_positives(vectors, labels)
    assert np.all(positive[-3:] == -1) and np.all(np.isnan(distance[-3:]))
    assert np.all(labels[positive[:-3]] == labels[:-3])


def test_triplets_table_names_faces_and_step():
    vectors, labels = _faces(2)
    triplets = mine_triplets(vectors, labels, "hard", neighbours=20)
    ids = np.array([f"face-{i}" for i in range(len(labels))])
    table = triplets.table(ids, step=40)
    assert table.column_names == ["anchor", "positive", "negative", "d_ap", "d_an", "step"]
    assert table["anchor"].to_pylist()[0] == ids[triplets.anchor[0]] and set(table["step"].to_pylist()) == {40}


def _miner(vectors, labels, every=3, strategy="semi_hard", on_mined=None, embedded=None):
    def embed_rows(rows):
        if embedded is not None:
            embedded.append(rows)
        return vectors[rows]

    return OfflineTripletMiner(
        strategy=strategy,
        margin=0.2,
        neighbours=len(labels),
        people=8,
        faces_per_person=4,
        every=every,
        triplets_per_batch=5,
        labels=labels,
        sampler=PKSampler(labels, 4, 2, seed=0),
        rng=np.random.default_rng(0),
        embed_rows=embed_rows,
        on_mined=on_mined,
    )


def test_miner_mines_a_fresh_subset_at_its_first_step_and_every_n_steps():
    vectors, labels = _faces(0)
    minings, embedded = [], []
    miner = _miner(vectors, labels, every=3, on_mined=minings.append, embedded=embedded)
    batches = [miner(step) for step in range(5, 12)]  # a run resumed at step 5
    assert [m.step for m in minings] == [5, 7, 10]  # its first step, then steps 1 + 3n
    assert [b.mining_s > 0 for b in batches] == [s in (5, 7, 10) for s in range(5, 12)]
    assert len(embedded) == 3 and all(len(np.unique(labels[rows])) == 8 for rows in embedded)
    assert all(len(rows) == len(set(rows)) and np.all(np.bincount(labels[rows]) <= 4) for rows in embedded)
    first = minings[0]
    expected = mine_triplets(vectors[first.rows], labels[first.rows], "semi_hard", 0.2, len(labels))
    assert len(expected) and np.array_equal(first.triplets.anchor, expected.anchor)
    assert np.array_equal(first.triplets.negative, expected.negative)


def test_miner_batches_are_anchors_positives_negatives_of_its_latest_mining():
    vectors, labels = _faces(1)
    minings: list[Mining] = []
    miner = _miner(vectors, labels, every=2, on_mined=minings.append)
    for step in range(1, 6):
        batch = miner(step)
        anchor, positive, negative = batch.indices
        assert len(batch.rows) == 15 and np.array_equal(np.r_[anchor, positive, negative], np.arange(15))
        assert np.array_equal(batch.labels, labels[batch.rows])
        latest = minings[-1]
        mined = {
            (latest.rows[a], latest.rows[p], latest.rows[n])
            for a, p, n in zip(latest.triplets.anchor, latest.triplets.positive, latest.triplets.negative)
        }
        drawn = set(zip(batch.rows[anchor], batch.rows[positive], batch.rows[negative]))
        assert drawn <= mined  # only the latest mining's triplets


def test_miner_that_finds_no_triplets_says_what_to_change():
    labels = np.repeat(np.arange(4), 3)
    vectors = np.eye(12, dtype=np.float32)  # every face equally far from every other: no semi-hard window
    with pytest.raises(RuntimeError, match="mine_people"):
        _miner(vectors, labels, strategy="semi_hard")(1)
