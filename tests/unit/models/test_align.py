"""5-point similarity alignment against exact transforms and OpenCV's own SFace alignCrop."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from PIL import Image

from pipeline.config import ModelsConfig
from pipeline.models.align import ARCFACE_TEMPLATE, align_faces, align_faces_torch, similarity_transforms
from pipeline.models.catalog import packaged_model_file
from pipeline.models.registry import load_detector, resolve_models


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    angle, scale, shift = 0.4, 1.7, np.array([12.0, -3.5])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = rng.uniform(0, 200, size=(5, 2))
    dst = src @ rotation.T + shift
    matrix = similarity_transforms(src[None], dst)[0]
    np.testing.assert_allclose(matrix[:, :2], rotation, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-9)


def test_batched_transforms_are_the_least_squares_solution():
    rng = np.random.default_rng(1)
    faces = rng.uniform(0, 300, size=(7, 10))
    batched = similarity_transforms(faces)
    for points, matrix in zip(faces.reshape(7, 5, 2), batched):
        # a similarity is linear in (a, b, tx, ty): x' = a x - b y + tx, y' = b x + a y + ty
        rows = [[x, -y, 1, 0] for x, y in points] + [[y, x, 0, 1] for x, y in points]
        a, b, tx, ty = np.linalg.lstsq(np.array(rows), ARCFACE_TEMPLATE.T.ravel(), rcond=None)[0]
        np.testing.assert_allclose(matrix, [[a, -b, tx], [b, a, ty]], atol=1e-9)
    mirrored = faces.reshape(7, 5, 2) * [-1, 1]  # a reflection is never returned: det > 0
    assert np.all(np.linalg.det(similarity_transforms(mirrored)[:, :, :2]) > 0)


def test_similarity_transform_is_least_squares_not_robust():
    src = ARCFACE_TEMPLATE * 2.0 + 10
    noisy = ARCFACE_TEMPLATE.copy()
    noisy[2] += [6.0, 0.0]  # one point off: every point must share the error, none ignored
    matrix = similarity_transforms(src[None], noisy)[0]
    residual = src @ matrix[:, :2].T + matrix[:, 2] - noisy
    assert np.all(np.linalg.norm(residual, axis=1) > 0.1)


def test_alignment_matches_opencv_align_crop(lfw_images):
    detector = cv2.FaceDetectorYN.create(str(packaged_model_file("yunet")), "", (250, 250), 0.6, 0.3, 5000)
    recognizer = cv2.FaceRecognizerSF.create(str(packaged_model_file("sface")), "")
    for photo in sorted(lfw_images.glob("A*/*_0001.jpg"))[:20]:
        bgr = cv2.imread(str(photo))
        _, faces = detector.detect(bgr)
        reference = recognizer.alignCrop(bgr, faces[0])
        ours = align_faces(bgr[:, :, ::-1], faces[:1, 4:14])[0][:, :, ::-1]
        assert ours.shape == (112, 112, 3)
        assert np.abs(ours.astype(float) - reference.astype(float)).mean() < 1.0, photo


def test_alignment_on_the_device_matches_warp_affine(lfw_images):
    detector = load_detector(resolve_models(ModelsConfig()))
    for path in sorted(lfw_images.glob("D*/*.jpg"))[:20]:
        image = np.asarray(Image.open(path).convert("RGB"))
        found = detector.detect(image)
        expected = align_faces(image, found.landmarks).astype(np.float64)
        crops = align_faces_torch(
            torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float(), np.zeros(len(found), int), found.landmarks
        )
        got = crops.round().clamp(0, 255).permute(0, 2, 3, 1).numpy()
        assert np.abs(got - expected).mean() < 1.0, path


def test_other_crop_sizes_scale_the_template(lfw_images):
    detector = load_detector(resolve_models(ModelsConfig()))
    for path in sorted(lfw_images.glob("F*/*.jpg"))[:10]:
        image = np.asarray(Image.open(path).convert("RGB"))
        landmarks = detector.detect(image).landmarks
        standard, large = align_faces(image, landmarks), align_faces(image, landmarks, 224)
        assert large.shape == (len(landmarks), 224, 224, 3)
        halved = np.stack([cv2.resize(crop, (112, 112), interpolation=cv2.INTER_AREA) for crop in large])
        assert np.abs(halved.astype(float) - standard).mean() < 5.0, path  # same face, twice the pixels (44 if not)
        small = align_faces(image, landmarks, 96).astype(np.float64)
        crops = align_faces_torch(
            torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float(), np.zeros(len(landmarks), int), landmarks, 96
        )
        assert np.abs(crops.round().clamp(0, 255).permute(0, 2, 3, 1).numpy() - small).mean() < 1.0, path
