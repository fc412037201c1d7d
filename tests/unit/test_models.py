"""Default models on real LFW photos: detection in original pixels, embeddings equal to OpenCV's reference."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.align import align_faces
from pipeline.config import ConfigError, ModelsConfig
from pipeline.models import create_detector, create_embedder, packaged_model_file


def rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_one_centred_face_per_lfw_photo(lfw_images):
    detector = create_detector(ModelsConfig())
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
    small_found = create_detector(ModelsConfig()).detect(image)
    big_found = create_detector(ModelsConfig(detect_max_side=250)).detect(big)
    np.testing.assert_allclose(big_found.boxes[0] / 6, small_found.boxes[0], atol=2.0)
    np.testing.assert_allclose(big_found.landmarks[0] / 6, small_found.landmarks[0], atol=2.0)


def test_min_face_size_drops_small_faces(lfw_images):
    image = rgb(lfw_images / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg")
    assert len(create_detector(ModelsConfig(min_face_size=400)).detect(image)) == 0


def test_embeddings_equal_opencv_reference_and_separate_people(lfw_images):
    detector, embedder = create_detector(ModelsConfig()), create_embedder(ModelsConfig())
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


def test_unknown_models_and_devices_fail_with_a_fix():
    with pytest.raises(ConfigError, match="unknown detector 'retina'"):
        create_detector(ModelsConfig(detector="retina"))
    with pytest.raises(ConfigError, match="models.device"):
        create_embedder(ModelsConfig(device="cuda"))


def test_the_driver_reads_model_ids_with_the_configured_engines(monkeypatch):
    # a GPU node may lack OpenVINO (the CPU default): the driver must not load it when torch is configured
    import pipeline.models as models_module
    from pipeline.ingest import models_on_driver

    def no_openvino(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'openvino'")

    monkeypatch.setattr(models_module, "OpenVinoEmbedder", no_openvino)
    configured = ModelsConfig(device="cuda", detector_engine="torch", embedder_engine="torch")
    on_driver = models_on_driver(configured)
    embedder = create_embedder(on_driver)

    assert on_driver.device == "cpu" and embedder.device == "cpu"
    assert embedder.model_id == create_embedder(ModelsConfig(device="cpu", embedder_engine="onnxruntime")).model_id
