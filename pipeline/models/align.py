"""Alignment: a 5-point similarity transform onto the 112x112 ArcFace template (scaled to other crop
sizes), then a warp (OpenCV on the CPU, grid_sample on the device that runs the models)."""

from __future__ import annotations

import cv2
import numpy as np

# The standard ArcFace/InsightFace template (112x112), in the landmark order of detect.Detections.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
CROP_SIZE = 112


def similarity_transforms(src: np.ndarray, dst: np.ndarray = ARCFACE_TEMPLATE) -> np.ndarray:
    """Least-squares similarities (rotation, uniform scale, translation) mapping each face's points
    src (N, 5, 2) or (N, 10) onto dst (5, 2). Returns (N, 2, 3) float64 matrices.

    Umeyama's closed form, written out because OpenCV's estimateAffinePartial2D is a robust
    (RANSAC/LMedS) estimator, not the exact least-squares fit the template alignment expects.
    """
    src = np.asarray(src, np.float64).reshape(len(src), -1, 2)
    dst = np.asarray(dst, np.float64).reshape(-1, 2)
    src_mean, dst_mean = src.mean(axis=1, keepdims=True), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = np.einsum("pi,npj->nij", dst_c, src_c) / dst.shape[0]
    u, sigma, vt = np.linalg.svd(cov)
    sign = np.ones((len(src), 2))
    sign[np.linalg.det(u) * np.linalg.det(vt) < 0, 1] = -1
    rotation = u @ (sign[:, :, None] * vt)
    scale = (sigma * sign).sum(axis=1) / src_c.var(axis=1).sum(axis=1)
    matrices = np.zeros((len(src), 2, 3))
    matrices[:, :, :2] = scale[:, None, None] * rotation
    matrices[:, :, 2] = dst_mean - np.einsum("nij,nj->ni", matrices[:, :, :2], src_mean[:, 0])
    return matrices


def template(size: int = CROP_SIZE) -> np.ndarray:
    """The ArcFace template's five points for a ``size`` x ``size`` crop (the 112 one, scaled)."""
    return ARCFACE_TEMPLATE * (size / CROP_SIZE)


def align_faces(image: np.ndarray, landmarks: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Crops of shape (N, size, size, 3) for the N faces whose 5 landmarks (N, 10) are given."""
    crops = np.empty((len(landmarks), size, size, 3), np.uint8)
    for i, matrix in enumerate(similarity_transforms(landmarks, template(size))):
        crops[i] = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
    return crops


def align_faces_torch(images, image_index: np.ndarray, landmarks: np.ndarray, size: int = CROP_SIZE):
    """Crops (N, 3, size, size) sampled on the device of ``images`` (G, 3, H, W) for N faces: face i
    lies in photo image_index[i] with landmarks[i] (10 values, in that photo's pixels). Bilinear
    like cv2.warpAffine, zeros outside the photo."""
    import torch
    import torch.nn.functional as F

    height, width = images.shape[2:]
    square = np.zeros((len(landmarks), 3, 3))
    square[:, :2] = similarity_transforms(landmarks, template(size))
    square[:, 2, 2] = 1
    inverse = torch.tensor(np.linalg.inv(square)[:, :2], dtype=torch.float32, device=images.device)  # crop -> photo
    # grid_sample reads normalised coordinates (align_corners=False): x_n = (2x + 1) / W - 1
    scale = torch.tensor([2 / width, 2 / height], device=images.device)
    offset = torch.tensor([1 / width - 1, 1 / height - 1], device=images.device)
    pixel = torch.arange(size, dtype=torch.float32, device=images.device)
    ys, xs = torch.meshgrid(pixel, pixel, indexing="ij")
    crop_points = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).reshape(-1, 3)
    grid = (crop_points @ inverse.transpose(1, 2)) * scale + offset
    source = images[torch.as_tensor(image_index, device=images.device)]
    grid = grid.reshape(len(landmarks), size, size, 2).to(source.dtype)
    return F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
