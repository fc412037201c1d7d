"""Alignment: a 5-point similarity transform onto the 112x112 ArcFace template, then a warp."""
from __future__ import annotations

import cv2
import numpy as np

# The standard ArcFace/InsightFace template (112x112), in the landmark order of detect.Detections.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
CROP_SIZE = 112


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src points onto dst.

    Umeyama's closed form, written out because OpenCV's estimateAffinePartial2D is a robust
    (RANSAC/LMedS) estimator, not the exact least-squares fit the template alignment expects.
    Returns a 2x3 float64 matrix.
    """
    src = np.asarray(src, np.float64).reshape(-1, 2)
    dst = np.asarray(dst, np.float64).reshape(-1, 2)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, sigma, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    rotation = u @ np.diag(sign) @ vt
    scale = (sigma * sign).sum() / src_c.var(axis=0).sum()
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - matrix[:, :2] @ src_mean
    return matrix


def align_faces(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Crops of shape (N, 112, 112, 3) for the N faces whose 5 landmarks (N, 10) are given."""
    crops = np.empty((len(landmarks), CROP_SIZE, CROP_SIZE, 3), np.uint8)
    for i, points in enumerate(np.asarray(landmarks)):
        matrix = similarity_transform(points, ARCFACE_TEMPLATE)
        crops[i] = cv2.warpAffine(image, matrix, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR, borderValue=0)
    return crops
