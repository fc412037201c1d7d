"""Reading back a candidate edited copy: a crop, a caption, a screenshot of a photo are copies with the photo
as their original and what was done named; two frames of a burst are two exposures; two photos of one
person are unrelated."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline import schema as S
from pipeline.dedup.edits import compare, features

PHOTO = "Tony_Blair/Tony_Blair_0001.jpg"


def rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def caption(photo: np.ndarray) -> np.ndarray:
    bar = np.full((60, photo.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, "when it's friday", (8, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    return np.vstack([bar, photo])


def blurred_fit(photo: np.ndarray) -> np.ndarray:
    """``photo`` shrunk into the middle of a square of itself enlarged and blurred, as a messenger fits it."""
    square = cv2.GaussianBlur(cv2.resize(photo, (400, 400)), (0, 0), 16)
    square[80:320, 80:320] = cv2.resize(photo, (240, 240), interpolation=cv2.INTER_AREA)
    return square


def screenshot(photo: np.ndarray) -> np.ndarray:
    screen = np.full((900, 500, 3), 245, np.uint8)
    cv2.putText(screen, "12:41", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    cv2.rectangle(screen, (0, 820), (500, 900), (30, 30, 30), -1)
    screen[200:600, 50:450] = cv2.resize(photo, (400, 400), interpolation=cv2.INTER_LINEAR)
    return screen


@pytest.mark.parametrize(
    "edit, kind",
    [
        (lambda p: p[30:210, 60:240], S.KIND_CROP),  # an uncentred crop keeping half the area
        (caption, S.KIND_CAPTION),
        (screenshot, S.KIND_SCREENSHOT),
        (blurred_fit, S.KIND_FIT),
    ],
)
def test_an_edited_copy_names_its_original_and_its_edit(lfw_images: Path, edit, kind: str) -> None:
    photo = rgb(lfw_images / PHOTO)
    found = compare(features(photo), features(edit(photo)))
    assert (found.verdict, found.original, found.edits) == ("copy", 0, (kind,)), found.evidence
    backwards = compare(features(edit(photo)), features(photo))
    assert (backwards.verdict, backwards.original, backwards.edits) == ("copy", 1, (kind,)), backwards.evidence


def test_a_filtered_copy_is_a_copy_with_its_colours_changed(lfw_images: Path) -> None:
    photo = rgb(lfw_images / PHOTO)
    sepia = np.clip(
        photo.astype(np.float32) @ np.array([[0.39, 0.77, 0.19], [0.35, 0.69, 0.17], [0.27, 0.53, 0.13]]).T, 0, 255
    )
    found = compare(features(photo), features(sepia.astype(np.uint8)))
    assert (
        found.verdict == "copy" and S.KIND_FILTER in found.edits and found.original is None
    )  # the keeper order decides


def test_burst_frames_are_two_exposures_and_other_photos_unrelated(lfw_images: Path) -> None:
    for person, shots in (("George_W_Bush", (407, 409)), ("Britney_Spears", (1, 2))):
        frames = [rgb(lfw_images / person / f"{person}_{n:04d}.jpg") for n in shots]
        assert compare(features(frames[0]), features(frames[1])).verdict == "two_exposures", person
    different = [rgb(lfw_images / "Gerhard_Schroeder" / f"Gerhard_Schroeder_{n:04d}.jpg") for n in (35, 36)]
    assert compare(features(different[0]), features(different[1])).verdict != "copy", "one backdrop, two photos"
    other = rgb(lfw_images / "Tony_Blair" / "Tony_Blair_0002.jpg")
    assert compare(features(rgb(lfw_images / PHOTO)), features(other)).verdict == "unrelated"


def test_a_vignette_and_drawn_text_leave_a_copy(lfw_images: Path) -> None:
    photo = rgb(lfw_images / PHOTO)
    height, width = photo.shape[:2]
    y, x = np.ogrid[:height, :width]
    distance = np.hypot(y / height - 0.5, x / width - 0.5) / np.sqrt(0.5)
    vignetted = np.clip(photo * (1 - 0.55 * distance[..., None] ** 2) * [1.1, 1.0, 0.85], 0, 255).astype(np.uint8)
    found = compare(features(photo), features(vignetted))
    assert found.verdict == "copy" and S.KIND_FILTER in found.edits, found.evidence
    texted = photo.copy()  # white text outlined in black, and a sticker in a colour the photo shows
    for colour, thickness in (((0, 0, 0), 7), ((255, 255, 255), 3)):
        cv2.putText(texted, "MONDAYS", (20, 225), cv2.FONT_HERSHEY_SIMPLEX, 1.6, colour, thickness)
    cv2.circle(texted, (200, 60), 28, tuple(int(c) for c in photo[5:25, 5:25].reshape(-1, 3).mean(axis=0)), -1)
    found = compare(features(photo), features(texted))
    assert found.verdict == "copy" and S.KIND_OVERLAY in found.edits, found.evidence


def framed(photo: np.ndarray) -> np.ndarray:
    """``photo`` on a white card with a printed line under it, as a framing app makes it."""
    card = np.full((photo.shape[0] + 140, photo.shape[1] + 80, 3), 255, np.uint8)
    card[40 : 40 + photo.shape[0], 40 : 40 + photo.shape[1]] = photo
    cv2.putText(
        card, "summer 2026 - with love", (40, card.shape[0] - 40), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (20, 20, 20), 2
    )
    return card


def test_different_photos_in_one_frame_and_two_crops_of_one_photo_are_not_copies(lfw_images: Path) -> None:
    photo, other = rgb(lfw_images / PHOTO), rgb(lfw_images / "Colin_Powell" / "Colin_Powell_0001.jpg")
    assert compare(features(framed(photo)), features(framed(other))).verdict != "copy"
    left, right = photo[:, :175], photo[:, 75:]  # each shows part of the other, neither all of it
    assert compare(features(left), features(right)).verdict != "copy"
