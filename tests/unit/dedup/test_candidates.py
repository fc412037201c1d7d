"""Candidate pairs from the binary index match a brute-force comparison of every pair."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.dedup import candidates
from pipeline.dedup.candidates import VARIANTS, near_pairs


def _library(photos: int, copies: int, seed: int = 0):
    """Random hashes; each copy is a photo's hash or one of its variants with a few bits flipped."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (photos, len(VARIANTS), 32), dtype=np.uint8)
    pdq = [codes[i, 0].tobytes() for i in range(photos)]
    variants = [[codes[i, v].tobytes() for v in range(1, len(VARIANTS))] for i in range(photos)]
    planted = {}
    for c in range(copies):
        source, which = int(rng.integers(photos)), int(rng.integers(len(VARIANTS)))
        code = np.unpackbits(codes[source, which].copy())
        code[rng.choice(256, int(rng.integers(0, 20)), replace=False)] ^= 1
        pdq.append(np.packbits(code).tobytes())
        variants.append([b""] * (len(VARIANTS) - 1))
        planted[(source, photos + c)] = which
    return pdq, variants, planted


def _brute_force(pdq, variants, radius):
    bits = lambda b: np.unpackbits(np.frombuffer(b, np.uint8)).astype(bool)
    found = {}
    for q in range(len(pdq)):
        for t in range(len(pdq)):
            if q == t:
                continue
            for v, code in enumerate([pdq[t], *variants[t]]):
                if code:
                    d = int((bits(pdq[q]) != bits(code)).sum())
                    key = (min(q, t), max(q, t))
                    if d <= radius and d < found.get(key, (999,))[0]:
                        found[key] = (d, v)
    return found


@pytest.mark.parametrize("flat_limit", [10**9, 100])  # exact scan; an inverted file
def test_near_pairs_find_every_planted_copy_as_brute_force_does(monkeypatch, flat_limit):
    monkeypatch.setattr(candidates, "FLAT_LIMIT", flat_limit)
    pdq, variants, planted = _library(300, 40)
    rows = near_pairs(pdq, variants, radius=32, k=8)
    found = {(min(int(i), int(j)), max(int(i), int(j))): (int(d), int(v)) for i, j, d, v in rows}
    owners = {(min(int(i), int(j)), max(int(i), int(j))): int(j) for i, j, _, v in rows if v}
    assert all(owners[pair] == pair[0] for pair, which in planted.items() if which), "j: whose variant matched"
    truth = _brute_force(pdq, variants, 32)
    assert set(planted) <= set(found), "every planted copy is found"
    if flat_limit > 10**6:
        assert found == truth, "the exact scan finds exactly the brute-force pairs, distances and variants"
    assert all(found[pair][1] == which for pair, which in planted.items())


def test_queries_and_targets_limit_the_search():
    pdq, variants, planted = _library(200, 20, seed=1)
    new = np.arange(200, 220)
    only_new = near_pairs(pdq, variants, radius=32, k=8, queries=new)
    assert {(int(j), int(i)) for i, j, _, _ in only_new} == set(planted), "j: the source whose variant matched"
    old_against_new = near_pairs(pdq, variants, radius=32, k=8, queries=np.arange(200), targets=new)
    found = {(min(int(i), int(j)), max(int(i), int(j))) for i, j, _, _ in old_against_new}
    as_is = {pair for pair, which in planted.items() if which == 0}
    assert as_is <= found <= set(planted), "old hashes find the new copies of themselves as they are"
    assert len(near_pairs([], [], radius=32, k=8)) == 0
