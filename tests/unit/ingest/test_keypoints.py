"""A photo's packed ORB keypoints: what is packed comes back, places are shares of the photo's size whatever
scale it was decoded at, a crop of a photo keeps keypoints of the original at the same places, a longer
photo keeps more, and a soft photo has them too."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pipeline.ingest.keypoints import KEYPOINT_BYTES, KEYPOINTS_KEPT, photo_keypoints, unpack_keypoints

PHOTO = "George_W_Bush/George_W_Bush_0001.jpg"


def rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_keypoints_pack_and_unpack(lfw_images: Path) -> None:
    packed = photo_keypoints(rgb(lfw_images / PHOTO))
    assert len(packed) % KEYPOINT_BYTES == 0 and 32 <= len(packed) // KEYPOINT_BYTES <= KEYPOINTS_KEPT
    descriptors, places = unpack_keypoints(packed)
    assert descriptors.shape == (len(places), 32) and descriptors.dtype == np.uint8
    assert ((places >= 0) & (places <= 1)).all() and places.std(axis=0).min() > 0.1  # spread over the photo
    assert photo_keypoints(np.full((200, 300, 3), 128, np.uint8)) == b""  # a flat photo has none


def test_places_do_not_depend_on_the_decode_scale(lfw_images: Path) -> None:
    pixels = rgb(lfw_images / PHOTO)
    big = cv2.resize(pixels, (1000, 1000), interpolation=cv2.INTER_CUBIC)
    _, small_places = unpack_keypoints(photo_keypoints(pixels))
    _, big_places = unpack_keypoints(photo_keypoints(big))  # shrunk to 256 px either way
    nearest = np.abs(small_places[:, None] - big_places[None]).sum(axis=2).min(axis=1)
    assert np.median(nearest) < 0.01


def test_a_crop_keeps_keypoints_of_the_original(lfw_images: Path) -> None:
    pixels = rgb(lfw_images / PHOTO)
    crop = pixels[40:220, 20:200]  # an uncentred crop keeping half the area
    (da, pa), (db, pb) = (unpack_keypoints(photo_keypoints(p)) for p in (pixels, crop))
    bits = np.unpackbits(da[:, None] ^ db[None], axis=2).sum(axis=2)  # every pair's Hamming distance
    close = np.argwhere(bits <= 40)
    in_original = pb[close[:, 1]] * [180, 180] + [20, 40]  # the crop's places mapped back onto the photo
    agree = np.abs(pa[close[:, 0]] * 250 - in_original).max(axis=1) < 4
    assert agree.sum() >= 10, "the crop's keypoints are the original's, a few bits apart, where the original has them"


def test_a_longer_photo_keeps_keypoints_in_proportion_to_its_area(lfw_images: Path) -> None:
    pixels = rgb(lfw_images / PHOTO)
    tall = np.vstack([pixels, pixels[::-1]])  # twice as tall: twice the square cells (a screenshot's shape)
    _, places = unpack_keypoints(photo_keypoints(tall))
    assert len(places) == 2 * KEYPOINTS_KEPT
    assert 0.4 < np.mean(places[:, 1] < 0.5) < 0.6  # as many on each photo: neither half takes the other's


def test_a_soft_photo_has_keypoints(lfw_images: Path) -> None:
    corner = rgb(lfw_images / "Abel_Pacheco/Abel_Pacheco_0004.jpg")[12:76, 12:76]
    soft = cv2.resize(corner, (250, 250), interpolation=cv2.INTER_CUBIC)  # a small photo enlarged 4x
    assert len(photo_keypoints(soft)) // KEYPOINT_BYTES == KEYPOINTS_KEPT  # FAST at 10 grey levels found none
