"""Reading back a candidate edited copy: a crop, a caption, a screenshot of a photo are copies with the photo
as their original and what was done named; two frames of a burst are two exposures; two photos of one
person are unrelated."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import pipeline.dedup.edits as edits
from benchmarks.dedup_library import lfw_background
from pipeline import schema as S
from pipeline.config import Config
from pipeline.dedup.edits import compare, compare_pairs, features
from pipeline.ingest.chain import PhotoChain

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


def test_two_soft_photos_are_not_fitted_onto_one_spot(lfw_images: Path) -> None:
    """Two of the dedup benchmark's photos without faces (LFW background corners enlarged 4x, JPEG quality
    95): their ORB keypoints, many at one place over the pyramid's levels, once fitted a transform of scale
    0 that took every match onto one spot, and the two were grouped as copies of each other."""

    def soft(name: str) -> np.ndarray:
        enlarged = lfw_background(lfw_images / name, lambda _: False)
        return cv2.cvtColor(
            cv2.imdecode(cv2.imencode(".jpg", np.asarray(enlarged)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])[1], 1),
            cv2.COLOR_BGR2RGB,
        )

    first, second = soft("Prince_Edward/Prince_Edward_0001.jpg"), soft("Janica_Kostelic/Janica_Kostelic_0002.jpg")
    found = compare(features(first), features(second))
    assert found.verdict == "unrelated", found.evidence


def test_a_rotation_cropped_straight_is_cut_from_the_photo_even_with_black_borders(lfw_images: Path) -> None:
    """LFW's black borders beyond a turned crop look like a canvas; apps set photos in canvases upright."""
    photo = rgb(lfw_images / "Farida_Ragoonanan/Farida_Ragoonanan_0001.jpg")
    turned = cv2.warpAffine(photo, cv2.getRotationMatrix2D((125, 125), -3.5, 1.0), (250, 250), flags=cv2.INTER_CUBIC)
    straightened = turned[7:243, 7:243]  # the largest centred square with no empty corner
    found = compare(features(photo), features(straightened))
    assert (found.verdict, found.original, found.edits) == ("copy", 0, (S.KIND_CROP, S.KIND_ROTATED)), found.evidence


def test_stickers_on_a_greyscale_photo_name_the_photo_without_them_the_original(lfw_images: Path) -> None:
    grey = cv2.cvtColor(cv2.cvtColor(rgb(lfw_images / PHOTO), cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    drawn = grey.copy()
    cv2.circle(drawn, (60, 60), 28, (255, 200, 40), -1, cv2.LINE_AA)
    cv2.circle(drawn, (200, 190), 22, (230, 40, 60), -1, cv2.LINE_AA)
    found = compare(features(drawn), features(grey))
    assert (found.verdict, found.original, found.edits) == ("copy", 1, (S.KIND_OVERLAY,)), found.evidence


class _Deferred:
    """Tasks run when fetched, not when submitted, two at a time: what Ray's are like to the driver."""

    cpus, node_cpus = 2, 1

    def __init__(self) -> None:
        self.submitted = self.pending = self.most_pending = 0

    def submit(self, fn, *args, cpus: int = 1, returns: int = 1):
        self.submitted += 1
        self.pending += 1
        self.most_pending = max(self.most_pending, self.pending)
        result: dict = {}

        def run(part: int):
            if not result:
                self.pending -= 1
                result["value"] = fn(self.node_cpus, *args)
            return result["value"][part]

        return tuple((run, part) for part in range(returns))

    def get(self, handles):
        return [run(part) for run, part in handles] if isinstance(handles, list) else handles[0](handles[1])


def test_pairs_read_back_as_tasks_come_back_in_order(lfw_images: Path, tmp_path: Path, monkeypatch) -> None:
    photo = rgb(lfw_images / PHOTO)
    other = rgb(lfw_images / "Colin_Powell/Colin_Powell_0001.jpg")
    uris = []
    for k, pixels in enumerate([photo, photo[30:210, 60:240], caption(photo), other, screenshot(photo)]):
        uris.append(str(tmp_path / f"{k}.png"))
        cv2.imwrite(uris[-1], cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
    pairs = [(0, 1), (0, 2), (1, 2), (0, 3), (2, 3), (0, 4), (3, 4)]
    monkeypatch.setattr(edits, "CHUNK", 2)
    chain = PhotoChain.of(Config())
    tasks = _Deferred()

    found = compare_pairs(pairs, uris, chain, tasks)

    assert tasks.submitted == 4 and tasks.most_pending <= 2 * tasks.cpus  # chunks of 2, a window of 4
    assert [c.verdict for c in found] == ["copy", "copy", "copy", "unrelated", "unrelated", "copy", "unrelated"]
    assert [(c.verdict, c.original, c.edits) for c in compare_pairs(pairs, uris, chain)] == [
        (c.verdict, c.original, c.edits) for c in found
    ]
