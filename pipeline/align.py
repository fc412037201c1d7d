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


def align_faces_torch(image, landmarks: np.ndarray):
    """Crops (N, 3, 112, 112) sampled on the image's device from a torch (3, H, W) image, for the N
    faces whose landmarks (N, 10) are given; bilinear like cv2.warpAffine, zeros outside."""
    import torch
    import torch.nn.functional as F

    height, width = image.shape[1:]
    inverses = []
    for points in np.asarray(landmarks):
        matrix = np.vstack([similarity_transform(points, ARCFACE_TEMPLATE), [0, 0, 1]])
        inverses.append(np.linalg.inv(matrix)[:2])  # crop pixel -> photo pixel
    inverse = torch.tensor(np.stack(inverses), dtype=torch.float32, device=image.device)
    # grid_sample reads normalised coordinates (align_corners=False): x_n = (2x + 1) / W - 1
    to_norm = torch.tensor([[2 / width, 0, 1 / width - 1], [0, 2 / height, 1 / height - 1]], device=image.device)
    pixel = torch.arange(CROP_SIZE, dtype=torch.float32, device=image.device)
    ys, xs = torch.meshgrid(pixel, pixel, indexing="ij")
    crop_points = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).reshape(-1, 3)  # (P, 3)
    photo_points = crop_points @ inverse.transpose(1, 2)  # (N, P, 2)
    normalised = photo_points @ to_norm[:, :2].T + to_norm[:, 2]
    grid = normalised.reshape(len(inverses), CROP_SIZE, CROP_SIZE, 2)
    source = image.unsqueeze(0).expand(len(inverses), -1, -1, -1).float()
    return F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
