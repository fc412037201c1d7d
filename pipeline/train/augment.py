"""Random augmentation of training pixels: flips, small shifts and scale changes, brightness and contrast."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def augment(pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flips, shifts up to 4 px, scale 0.95-1.05, brightness and contrast +-20%."""
    n = len(pixels)
    rand = lambda *shape: torch.rand(*shape, generator=generator).to(pixels.device)
    scale = 0.95 + 0.1 * rand(n)
    flip = torch.where(rand(n) < 0.5, -1.0, 1.0).to(pixels.device)
    theta = torch.zeros(n, 2, 3, device=pixels.device)
    theta[:, 0, 0], theta[:, 1, 1] = scale * flip, scale
    theta[:, :, 2] = (rand(n, 2) - 0.5) * (8 / 112)  # +-4 px in normalised coordinates
    grid = F.affine_grid(theta, list(pixels.shape), align_corners=False)
    moved = F.grid_sample(pixels, grid, align_corners=False, padding_mode="border")
    mean = moved.mean(dim=(1, 2, 3), keepdim=True)
    contrast, brightness = 0.8 + 0.4 * rand(n, 1, 1, 1), 0.8 + 0.4 * rand(n, 1, 1, 1)
    return ((moved - mean) * contrast + mean * brightness).clamp(0, 255)
