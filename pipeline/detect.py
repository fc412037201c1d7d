"""Face detection: boxes, five landmarks and scores in original-pixel coordinates."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass(frozen=True)
class Detections:
    """Faces found in one photo, best score first.

    boxes: (N, 4) float32 x1, y1, x2, y2; landmarks: (N, 10) float32 x, y of the subject's right eye,
    left eye, nose tip, right mouth corner, left mouth corner; scores: (N,) float32.
    """

    boxes: np.ndarray
    landmarks: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    @staticmethod
    def empty() -> "Detections":
        return Detections(np.zeros((0, 4), np.float32), np.zeros((0, 10), np.float32), np.zeros((0,), np.float32))


def working_scale(width: int, height: int, max_side: int) -> float:
    """Factor that brings the longest side down to ``max_side`` (never enlarges)."""
    return min(1.0, max_side / max(width, height))


class YuNetDetector:
    """OpenCV's YuNet on a downscaled copy of each photo (longest side <= max_side).

    Call it with a list of HxWx3 uint8 RGB arrays; get a list of Detections in original pixels.
    """

    def __init__(
        self,
        model_path: Path,
        model_id: str,
        max_side: int = 640,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        min_face_size: int = 0,
    ):
        self.model_id = model_id
        self.max_side = max_side
        self.min_face_size = min_face_size
        self._net = cv2.FaceDetectorYN.create(str(model_path), "", (320, 320), score_threshold, nms_threshold, 5000)

    def detect(self, rgb: np.ndarray) -> Detections:
        """Faces in one HxWx3 uint8 RGB photo."""
        height, width = rgb.shape[:2]
        scale = working_scale(width, height, self.max_side)
        small = rgb if scale == 1.0 else cv2.resize(
            rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
        )
        bgr = np.ascontiguousarray(small[:, :, ::-1])
        self._net.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, found = self._net.detect(bgr)
        if found is None or len(found) == 0:
            return Detections.empty()
        found = found[np.argsort(-found[:, 14])]
        sx, sy = width / bgr.shape[1], height / bgr.shape[0]
        x, y, w, h = found[:, 0] * sx, found[:, 1] * sy, found[:, 2] * sx, found[:, 3] * sy
        boxes = np.stack([x, y, x + w, y + h], axis=1)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
        landmarks = found[:, 4:14] * np.array([sx, sy] * 5, dtype=np.float32)
        keep = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= self.min_face_size
        return Detections(
            boxes[keep].astype(np.float32), landmarks[keep].astype(np.float32), found[keep, 14].astype(np.float32)
        )

    def __call__(self, images: list[np.ndarray]) -> list[Detections]:
        return [self.detect(image) for image in images]
