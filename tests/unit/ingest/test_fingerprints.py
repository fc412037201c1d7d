"""The dedup fingerprints of a photo: hashes of bytes and pixels, PDQ of it and its edits, EXIF, JPEG quality."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.dedup_library import make_copy
from pipeline import schema as S
from pipeline.ingest.decode import decode_image
from pipeline.ingest.fingerprints import jpeg_quality, photo_fingerprints

ORIGINAL = "George_W_Bush/George_W_Bush_0001.jpg"


def fingerprints(data: bytes) -> dict:
    decoded = decode_image(data, 10**9)
    return photo_fingerprints([(data, decoded.pixels, 1)])[0]


def distance(a: bytes, b: bytes) -> int:
    return int(np.unpackbits(np.frombuffer(a, np.uint8) ^ np.frombuffer(b, np.uint8)).sum())


def variant(found: dict, name: str) -> bytes:
    return found[S.PDQ_VARIANTS][S.PDQ_VARIANT_NAMES.index(name)]


@pytest.fixture(scope="module")
def original(lfw_images: Path) -> bytes:
    return (lfw_images / ORIGINAL).read_bytes()


def test_jpeg_quality_is_the_quality_the_file_was_saved_at(original: bytes):
    image = Image.open(io.BytesIO(original))
    for quality in (30, 50, 75, 90, 97):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        assert jpeg_quality(Image.open(io.BytesIO(buffer.getvalue())).quantization) == quality
    assert jpeg_quality(None) is None


def test_exif_capture_time_camera_and_tags():
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Canon", "EOS 5D", 1
    inner = exif.get_ifd(0x8769)
    inner[0x9003], inner[0x9291], inner[0x9011] = "2024:06:01 14:30:05", "25", "+02:00"
    buffer = io.BytesIO()
    Image.fromarray(np.full((40, 60, 3), 128, np.uint8)).save(buffer, "JPEG", exif=exif.tobytes())
    found = fingerprints(buffer.getvalue())
    assert found[S.CAPTURED_AT] == dt.datetime(2024, 6, 1, 12, 30, 5, 250000, tzinfo=dt.timezone.utc)
    assert found[S.CAMERA] == "Canon EOS 5D"
    assert found[S.EXIF_FIELDS] == 5, "make, model and the three capture tags; orientation is not metadata kept"
    assert found[S.FORMAT] == "JPEG"


def test_same_pixels_in_another_container_share_the_pixel_hash_only(original: bytes):
    png, _ = make_copy(original, "jpg", "png")
    first, second = fingerprints(original), fingerprints(png)
    assert first[S.PIXEL_SHA256] == second[S.PIXEL_SHA256]
    assert first[S.SHA256] != second[S.SHA256] and second[S.FORMAT] == "PNG" and second[S.JPEG_QUALITY] is None
    brighter, _ = make_copy(original, "jpg", "brighter")
    assert fingerprints(brighter)[S.PIXEL_SHA256] != first[S.PIXEL_SHA256]


@pytest.mark.parametrize(
    ("kind", "compared"),
    [
        ("quality_50", "as_is"),
        ("half_size", "as_is"),
        ("greyscale", "as_is"),
        ("brighter", "as_is"),
        ("exif_rotated", "as_is"),
        ("mirrored", "mirrored"),
        ("crop_90", "crop_90"),
        ("crop_75", "crop_75"),
    ],
)
def test_a_copy_hashes_near_the_matching_variant_of_its_original(original: bytes, lfw_images: Path, kind, compared):
    copy, _ = make_copy(original, "jpg", kind)
    first, second = fingerprints(original), fingerprints(copy)
    hashed = first[S.PDQ] if compared == "as_is" else variant(first, compared)
    other = fingerprints((lfw_images / "George_W_Bush/George_W_Bush_0002.jpg").read_bytes())
    assert distance(hashed, second[S.PDQ]) <= 32
    assert distance(other[S.PDQ], second[S.PDQ]) > 64, "another photo of the same person is far"
    assert second[S.GREYSCALE] == (kind == "greyscale")


def test_a_framed_copy_unframed_hashes_near_its_original(original: bytes):
    copy, _ = make_copy(original, "jpg", "framed")
    first, second = fingerprints(original), fingerprints(copy)
    assert distance(variant(second, "unframed"), first[S.PDQ]) <= 40
    assert 0.4 < second[S.CONTENT_FRACTION] < 0.6, "the photo fills about half the framed copy (70% a side)"
    assert first[S.CONTENT_FRACTION] == 1.0 and variant(first, "unframed") == b""
    assert not second[S.GREYSCALE], "a white frame around a colour photo takes no colour from it"
