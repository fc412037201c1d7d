"""Burst shots read back differ in some block; copies differ evenly and little."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.dedup_library import make_copy
from pipeline.config import DedupConfig
from pipeline.dedup.exposures import block_residual, residual
from pipeline.ingest.decode import decode_image

THRESHOLD = DedupConfig().exposure_residual
# two frames a moment apart: hashed as close as copies (PDQ 24-40 bits), a mouth or a head moved
BURSTS = [
    ("Britney_Spears/Britney_Spears_0001.jpg", "Britney_Spears/Britney_Spears_0002.jpg"),
    ("Renee_Zellweger/Renee_Zellweger_0010.jpg", "Renee_Zellweger/Renee_Zellweger_0013.jpg"),
    ("Julianne_Moore/Julianne_Moore_0001.jpg", "Julianne_Moore/Julianne_Moore_0008.jpg"),
]


def pixels(data: bytes):
    return decode_image(data, 10**9).pixels


@pytest.mark.parametrize("kind", ["quality_50", "brighter", "greyscale", "exif_rotated", "png"])
def test_same_size_copies_stay_below_the_threshold(lfw_images: Path, kind: str):
    for name in ("George_W_Bush/George_W_Bush_0001.jpg", "Serena_Williams/Serena_Williams_0003.jpg"):
        data = (lfw_images / name).read_bytes()
        copy, _ = make_copy(data, "jpg", kind)
        assert block_residual(pixels(data), pixels(copy)) < THRESHOLD / 2


@pytest.mark.parametrize(
    ("kind", "variant"), [("mirrored", "mirrored"), ("crop_75", "crop_75"), ("half_size", "as_is")]
)
def test_copies_of_another_framing_line_up_by_their_hash_variant(lfw_images: Path, kind: str, variant: str):
    data = (lfw_images / "Serena_Williams/Serena_Williams_0003.jpg").read_bytes()
    copy, _ = make_copy(data, "jpg", kind)
    assert residual(pixels(copy), pixels(data), variant) < THRESHOLD / 1.5
    if variant != "as_is":
        assert block_residual(pixels(copy), pixels(data)) > THRESHOLD, "not lined up, they differ"


@pytest.mark.parametrize(("first", "second"), BURSTS)
def test_burst_shots_pass_it(lfw_images: Path, first: str, second: str):
    a, b = (pixels((lfw_images / name).read_bytes()) for name in (first, second))
    assert residual(a, b, "as_is") > THRESHOLD, "not even when one is taken for a crop of the other"
