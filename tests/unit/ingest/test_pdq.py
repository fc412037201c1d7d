"""Our numpy PDQ against the reference implementation (the ``pdqhash`` package, ThreatExchange's C++)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pdqhash
import pytest
import simplejpeg

from pipeline.ingest.pdq import DIHEDRAL, coefficients, hash_bytes

# compute_dihedral's order: as is, rotated 90 degrees counter-clockwise, 180, 90 clockwise, flipped
# upside down, mirrored left-right, the two transposes; the dedup fingerprints use these of them
REFERENCE_INDEX = {"rotated_90": 1, "rotated_180": 2, "rotated_270": 3, "mirrored": 5}
REFERENCE_ORDER = tuple(REFERENCE_INDEX)


def reference(image: np.ndarray) -> tuple[list[bytes], int]:
    """pdqhash's hashes of ``image`` as is and in REFERENCE_ORDER, and its quality."""
    hashes, quality = pdqhash.compute_dihedral(np.ascontiguousarray(image))
    chosen = [hashes[0], *(hashes[REFERENCE_INDEX[name]] for name in REFERENCE_ORDER)]
    return [np.packbits(bits.astype(np.uint8)).tobytes() for bits in chosen], int(quality)


def ours(image: np.ndarray) -> tuple[list[bytes], int]:
    found, quality = coefficients([image])
    blocks = np.stack([found[0], *(DIHEDRAL[name](found[0]) for name in REFERENCE_ORDER)])
    return [row.tobytes() for row in hash_bytes(blocks)], int(quality[0])


def distance(a: bytes, b: bytes) -> int:
    return int(np.unpackbits(np.frombuffer(a, np.uint8) ^ np.frombuffer(b, np.uint8)).sum())


def smooth_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A photo-like image: a random walk in two dimensions, coarse, enlarged by cubic interpolation
    (no blocks of equal pixels: those give DCT coefficients that tie in exact arithmetic, where
    rounding alone decides a bit, in the reference too)."""
    coarse = rng.normal(size=(height // 4 + 2, width // 4 + 2, 3)).cumsum(0).cumsum(1)
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return ((image - image.min()) / (np.ptp(image) or 1) * 255).astype(np.uint8)


def assert_agree(images: list[np.ndarray]) -> None:
    """Every hash within 2 bits of the reference (float rounding near the median), 99% identical,
    qualities equal."""
    distances = []
    for image in images:
        (expected, expected_quality), (found, quality) = reference(image), ours(image)
        assert quality == expected_quality
        distances += [distance(a, b) for a, b in zip(expected, found)]
    assert max(distances) <= 2
    assert np.mean(np.array(distances) == 0) >= 0.99


def test_synthetic_images_of_every_size_hash_as_the_reference():
    rng = np.random.default_rng(0)
    images = []
    for height, width in [(3, 40), (5, 5), (37, 90), (64, 64), (128, 101), (129, 300), (700, 460), (1000, 1500)]:
        images.append(smooth_image(rng, height, width))
        images.append(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    assert_agree(images)
    assert ours(images[0])[0][0] == bytes(32), "an image under 5 pixels a side hashes to zeros"


def test_photos_at_full_size_and_shrunk_hash_as_the_reference(lfw_images: Path):
    photos = sorted(lfw_images.glob("*/*.jpg"))[::400]
    decoded = [simplejpeg.decode_jpeg(path.read_bytes()) for path in photos]
    assert_agree(decoded + [photo[::2, ::2] for photo in decoded] + [photo[20:-30, 10:] for photo in decoded])


@pytest.mark.parametrize("name", REFERENCE_ORDER)
def test_the_transformed_hash_is_the_hash_of_the_transformed_image(name: str):
    rng = np.random.default_rng(1)
    image = smooth_image(rng, 120, 96)
    transformed = {
        "rotated_90": np.rot90(image, 1),
        "rotated_180": np.rot90(image, 2),
        "rotated_270": np.rot90(image, 3),
        "mirrored": image[:, ::-1],
    }[name]
    found, _ = coefficients([image, np.ascontiguousarray(transformed)])
    from_coefficients, direct = hash_bytes(np.stack([DIHEDRAL[name](found[0]), found[1]]))
    assert distance(from_coefficients.tobytes(), direct.tobytes()) <= 8
