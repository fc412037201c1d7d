"""Embedders and their engines against OpenCV's reference on real photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from benchmarks.engine_equivalence import compare, opencv_reference
from pipeline.config import ModelsConfig
from pipeline.models.align import align_faces
from pipeline.models.catalog import packaged_model_file
from pipeline.models.registry import load_detector, load_embedder, resolve_models


@pytest.mark.slow
def test_engines_match_opencv_on_lfw(lfw_images):
    photos = sorted(lfw_images.glob("*/*.jpg"))[::200][:60]
    figures = compare(photos, "cpu", opencv_reference(photos), batch=16)
    assert set(figures["detectors"]) == {"torch", "openvino"}
    for detector in figures["detectors"].values():
        assert detector["photos_with_other_face_count"] == 0
        assert detector["box_iou_min"] >= 0.95
        assert detector["landmark_error_px_mean"] < 1.0
    assert set(figures["embedders"]) == {"torch", "openvino", "onnxruntime"}
    for embedder in figures["embedders"].values():
        assert embedder["cosine_min"] >= 0.999
        assert embedder["share_cosine_at_least_0995"] == 1.0


def rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_embeddings_equal_opencv_reference_and_separate_people(lfw_images):
    detector, embedder = load_detector(resolve_models(ModelsConfig())), load_embedder(resolve_models(ModelsConfig()))
    recognizer = cv2.FaceRecognizerSF.create(str(packaged_model_file("sface")), "")
    photos = [lfw_images / "Tony_Blair" / f"Tony_Blair_000{i}.jpg" for i in (1, 2)]
    photos.append(lfw_images / "Serena_Williams" / "Serena_Williams_0001.jpg")
    vectors = []
    for photo in photos:
        image = rgb(photo)
        found = detector.detect(image)
        vector = embedder(align_faces(image, found.landmarks[:1]))[0]
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        row = np.concatenate(
            [found.boxes[0, :2], found.boxes[0, 2:] - found.boxes[0, :2], found.landmarks[0], found.scores[:1]]
        )
        reference = recognizer.feature(recognizer.alignCrop(bgr, row.astype(np.float32))).ravel()
        assert float(vector @ reference / np.linalg.norm(reference)) > 0.999
        assert abs(np.linalg.norm(vector) - 1) < 1e-5
        vectors.append(vector)
    same, different = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert same > 0.4 > different
