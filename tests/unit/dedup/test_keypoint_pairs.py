"""Candidate edited copies from stored keypoints: a crop and a captioned copy of a photo are paired with it
by matches agreeing on one transform, more of them than any two other photos. LFW's faces, all at one
place and scale, make photos of one person agree on some matches too: those pairs are read back and
told apart there (pipeline.dedup.edits)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from benchmarks.dedup_library import lfw_background
from benchmarks.keypoint_scale import synthetic_keypoints
from pipeline.dedup.keypoint_pairs import keypoint_pairs
from pipeline.ingest.keypoints import photo_keypoints

PEOPLE = ("Tony_Blair", "Colin_Powell", "Donald_Rumsfeld")


def test_edited_copies_pair_with_their_photo_and_nothing_else(lfw_images: Path) -> None:
    photos = [
        cv2.cvtColor(cv2.imread(str(lfw_images / p / f"{p}_{n:04d}.jpg")), cv2.COLOR_BGR2RGB)
        for p in PEOPLE
        for n in range(1, 7)
    ]
    crop = photos[0][40:220, 20:200]
    bar = np.full((50, 250, 3), 255, np.uint8)
    cv2.putText(bar, "monday again", (10, 35), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 2)
    captioned = np.vstack([bar, photos[6]])
    library = [*photos, crop, captioned]
    sizes = np.array([(p.shape[1], p.shape[0]) for p in library])
    found = keypoint_pairs([photo_keypoints(p) for p in library], sizes, min_agreeing=6)
    agreeing = {(int(i), int(j)): int(n) for i, j, n in found}
    copies = (0, 18), (6, 19)
    others = [n for pair, n in agreeing.items() if pair not in copies]
    assert all(pair in agreeing for pair in copies)
    assert min(agreeing[pair] for pair in copies) > max(others, default=0)


def test_matches_fitted_onto_one_spot_make_no_pair(lfw_images: Path) -> None:
    """Two LFW background corners enlarged 4x (the dedup benchmark's photos without faces) once agreed on 31
    matches under a transform of scale 0: every keypoint of one photo onto one spot of the other."""
    soft = [
        np.asarray(lfw_background(lfw_images / name, lambda _: False))
        for name in ("Prince_Edward/Prince_Edward_0001.jpg", "Janica_Kostelic/Janica_Kostelic_0002.jpg")
    ]
    assert len(keypoint_pairs([photo_keypoints(p) for p in soft], np.array([(250, 250)] * 2), min_agreeing=5)) == 0


def test_the_scale_benchmarks_planted_copies_are_paired_and_little_else() -> None:
    packed, sizes, source = synthetic_keypoints(600, 0.1, seed=0)
    found = {(int(i), int(j)) for i, j, _ in keypoint_pairs(packed, sizes, min_agreeing=5)}
    planted = {(int(source[k]), int(k)) for k in np.flatnonzero(source >= 0)}
    assert len(planted) > 20 and planted <= found
    assert len(found - planted) <= 0.02 * len(sizes)
