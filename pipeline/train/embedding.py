"""Training crops as pixel tensors, and their unit embeddings by the network being trained."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

EMBED_BATCH = 128


def to_pixels(crops: np.ndarray, device: torch.device) -> torch.Tensor:
    """(N, 112, 112, 3) uint8 crops as an (N, 3, 112, 112) float tensor of 0..255 on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(crops)).to(device).permute(0, 3, 1, 2).float()


def embed(network: torch.nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """Unit embeddings of a pixel batch (gradients flow)."""
    return F.normalize(network(pixels)[0].float().reshape(len(pixels), -1), dim=1)


def embed_crops(network: torch.nn.Module, crops: np.ndarray, device: torch.device) -> np.ndarray:
    """Unit embeddings of many crops, in eval mode, without gradients."""
    was_training = network.training
    network.eval()
    with torch.no_grad():
        out = [
            embed(network, to_pixels(crops[i : i + EMBED_BATCH], device)).cpu().numpy()
            for i in range(0, len(crops), EMBED_BATCH)
        ]
    network.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 128), np.float32)
