"""Detectors on real LFW photos: faces in original pixels, batches, sizes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.config import ModelsConfig
from pipeline.models.registry import load_detector, resolve_models


@pytest.mark.parametrize("engine", ["torch", "openvino"])
def test_batched_detector_does_not_depend_on_its_batch_mates(lfw_images, engine):
    detector = load_detector(resolve_models(ModelsConfig(detector_engine=engine)))
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(lfw_images.glob("C*/*.jpg"))[:6]]
    large = np.asarray(Image.fromarray(photos[0]).resize((900, 700)))
    alone = [detector([photo])[0] for photo in photos]
    mixed = detector([large, *photos])[1:]
    for a, b in zip(alone, mixed):
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)


def rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_one_centred_face_per_lfw_photo(lfw_images):
    detector = load_detector(resolve_models(ModelsConfig()))
    for photo in sorted(lfw_images.glob("B*/*_0001.jpg"))[:20]:
        found = detector.detect(rgb(photo))
        assert len(found) >= 1, photo
        centres = (found.boxes[:, :2] + found.boxes[:, 2:]) / 2
        central = np.flatnonzero(np.all((centres > 85) & (centres < 165), axis=1))
        assert len(central) == 1, photo
        assert np.all(found.scores[:-1] >= found.scores[1:]), "best score first"
        eyes = found.landmarks[central[0], :4].reshape(2, 2)
        assert eyes[0, 0] < eyes[1, 0], "the subject's right eye lies on the image's left"


def test_detection_at_working_resolution_maps_back_to_original_pixels(lfw_images):
    image = rgb(lfw_images / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg")
    big = cv2.resize(image, (1500, 1500), interpolation=cv2.INTER_CUBIC)
    small_found = load_detector(resolve_models(ModelsConfig())).detect(image)
    big_found = load_detector(resolve_models(ModelsConfig(detect_max_side=250))).detect(big)
    np.testing.assert_allclose(big_found.boxes[0] / 6, small_found.boxes[0], atol=2.0)
    np.testing.assert_allclose(big_found.landmarks[0] / 6, small_found.landmarks[0], atol=2.0)


def test_min_face_size_drops_small_faces(lfw_images):
    image = rgb(lfw_images / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg")
    assert len(load_detector(resolve_models(ModelsConfig(min_face_size=400))).detect(image)) == 0
