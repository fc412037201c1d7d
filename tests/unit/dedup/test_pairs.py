"""The rules that make a candidate pair copies, two exposures stacked as similar, or nothing."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pipeline import schema as S
from pipeline.config import Config
from pipeline.dedup.dedup_job import pair_rules
from pipeline.dedup.pairs import Photos, equal_value_links, judge
from pipeline.similarity.thresholds import REFERENCE_MODEL

T = 1_700_000_000.0
RULES = pair_rules(Config(), REFERENCE_MODEL)[0]  # the defaults, for the default model


def photos(n: int, **changes) -> Photos:
    face = np.zeros((n, 4), np.float32)
    face[:, 0] = 1
    values = {
        "sha256": np.array([f"s{k}" for k in range(n)], object),
        "pixel_sha256": np.array([f"p{k}" for k in range(n)], object),
        "pdq_quality": np.full(n, 100),
        "captured": np.full(n, np.nan),
        "camera": np.full(n, None, object),
        "face": face,
        "has_face": np.ones(n, bool),
        "width": np.full(n, 250),
        "height": np.full(n, 250),
    }
    return Photos(**{**values, **changes})


def test_close_hashes_are_copies_farther_ones_of_one_person_similar():
    candidates = np.array([[0, 1, 20, 0], [0, 2, 60, 0], [0, 3, 120, 0]])
    near, similar = judge(candidates, photos(4), RULES)
    assert list(zip(near.i, near.j)) == [(0, 1)]
    assert list(zip(similar.i, similar.j)) == [(0, 2)], "within similar_distance, the same person"
    strangers = photos(4, face=np.eye(4, dtype=np.float32))
    assert len(judge(candidates, strangers, RULES)[1].i) == 0, "not the same person: nothing"


def test_without_a_same_person_threshold_faces_stack_nothing():
    candidates = np.array([[0, 1, 20, 0], [0, 2, 60, 0]])
    near, similar = judge(candidates, photos(3), replace(RULES, same_person=None))
    assert list(zip(near.i, near.j)) == [(0, 1)] and len(similar.i) == 0, "copies still are; look-alikes not"


def test_two_exposures_of_one_camera_are_never_copies():
    captured = np.array([T, T + 0.5, T + 30, np.nan])
    camera = np.array(["Pixel 8"] * 4, object)
    candidates = np.array([[0, 1, 4, 0], [0, 2, 4, 0], [0, 3, 4, 0]])
    near, similar = judge(candidates, photos(4, captured=captured, camera=camera), RULES)
    assert list(zip(near.i, near.j)) == [(0, 3)], "a copy that lost its EXIF still is one"
    assert list(zip(similar.i, similar.j)) == [(0, 1), (0, 2)], "two exposures of one person: similar"
    strangers = photos(4, captured=captured, camera=camera, face=np.eye(4, dtype=np.float32))
    _, similar = judge(candidates, strangers, RULES)
    assert list(zip(similar.i, similar.j)) == [(0, 1)], "half a second apart: a burst, whoever is in it"


def test_flat_photos_join_by_bytes_or_pixels_only():
    flat = photos(2, pdq_quality=np.array([100, 10]))
    near, similar = judge(np.array([[0, 1, 0, 0]]), flat, RULES)
    assert len(near.i) == len(similar.i) == 0
    links = equal_value_links(np.array(["x", None, "x", "y", "x"], object), S.KIND_EXACT)
    assert sorted(zip(links.i, links.j)) == [(0, 2), (2, 4)]
