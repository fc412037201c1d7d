"""Keepers read back: a blurred fit (more pixels than its photo) and stickers on a greyscale photo (colour it
lacks) win the keeper order over their original when hashes alone group them; read back against the
runner-up, each is named an edited copy and the original is kept."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa

from pipeline import schema as S
from pipeline.config import Config
from pipeline.dedup.edited_links import edited_keepers, edited_ones, keeper_of
from pipeline.dedup.keeper import Copy
from pipeline.dedup.pairs import Links
from pipeline.ingest.chain import PhotoChain
from pipeline.ingest.fingerprints import is_greyscale


def blurred_fit(photo: np.ndarray) -> np.ndarray:
    square = cv2.GaussianBlur(cv2.resize(photo, (340, 340)), (0, 0), 14)
    square[45:295, 45:295] = photo
    return square


def stickers(photo: np.ndarray) -> np.ndarray:
    drawn = photo.copy()
    cv2.circle(drawn, (60, 60), 28, (255, 200, 40), -1, cv2.LINE_AA)
    cv2.circle(drawn, (200, 190), 22, (230, 40, 60), -1, cv2.LINE_AA)
    return drawn


def images_row(path: Path, pixels: np.ndarray) -> dict:
    data = path.read_bytes()
    return {
        S.URI: str(path),
        S.IMAGE_ID: path.name,
        S.WIDTH: pixels.shape[1],
        S.HEIGHT: pixels.shape[0],
        S.SIZE: len(data),
        S.SHA256: hashlib.sha256(data).hexdigest(),
        S.PIXEL_SHA256: hashlib.sha256(pixels.tobytes()).hexdigest(),
        S.GREYSCALE: is_greyscale(pixels),
        S.CONTENT_FRACTION: 1.0,
        S.EXIF_FIELDS: 0,
        S.JPEG_QUALITY: 95,
    }


def test_an_edited_copy_winning_the_keeper_order_is_read_back_and_not_kept(lfw_images: Path, tmp_path: Path) -> None:
    colour = cv2.cvtColor(cv2.imread(str(lfw_images / "Tony_Blair/Tony_Blair_0001.jpg")), cv2.COLOR_BGR2RGB)
    grey = cv2.cvtColor(cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    photos = {
        "photo.jpg": colour,
        "photo_fit.jpg": blurred_fit(colour),
        "grey.jpg": grey,
        "grey_drawn.jpg": stickers(grey),
    }
    rows = []
    for name, pixels in photos.items():
        cv2.imwrite(str(tmp_path / name), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        rows.append(images_row(tmp_path / name, pixels))
    images = pa.Table.from_pylist(rows, schema=S.IMAGES_SCHEMA)
    uris = images[S.URI].to_pylist()
    near = Links.of([0, 2], [1, 3], S.KIND_NEAR_DUPLICATE)  # what the hashes linked
    labels = np.array([0, 0, 1, 1])
    copies = [Copy.of(row) for row in images.select(list(Copy.COLUMNS)).to_pylist()]
    assert [keeper_of(group, copies, set())[::2] for group in ([0, 1], [2, 3])] == [(1, "pixels"), (3, "colour")]

    found = edited_keepers(images, uris, near, labels, PhotoChain.of(Config()))

    assert edited_ones(found, uris) == {1, 3}
    assert sorted(found.kind) == [S.KIND_FIT, S.KIND_OVERLAY]
    assert [keeper_of(group, copies, edited_ones(found, uris))[0] for group in ([0, 1], [2, 3])] == [0, 2]
