"""Face embedding: aligned 112x112 crops in, L2-normalised vectors out."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    vectors = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class SFaceEmbedder:
    """OpenCV's SFace (128-d). Call with (N, 112, 112, 3) uint8 RGB crops; get (N, 128) unit vectors."""

    dim = 128

    def __init__(self, model_path: Path, model_id: str):
        self.model_id = model_id
        self._net = cv2.FaceRecognizerSF.create(str(model_path), "")

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        # feature() expects BGR and swaps to RGB itself before the network.
        features = [self._net.feature(np.ascontiguousarray(crop[:, :, ::-1])).reshape(-1) for crop in crops]
        return l2_normalize(np.stack(features))
