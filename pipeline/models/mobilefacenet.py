"""MobileFaceNet (Chen et al., 2018): the embedder trained from scratch, 112x112 RGB crops in,
dim-d out (128 by default; L2-normalised by the caller). About 1M weights and 0.22 GFLOPs per face: small enough
to train on CPU."""

from __future__ import annotations

import torch
from torch import nn

# (expansion, output channels, blocks, first stride) of the bottleneck stages
STAGES = ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))


def _conv(
    cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True, padding: int | None = None
) -> nn.Sequential:
    padding = kernel // 2 if padding is None else padding
    layers = [nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.PReLU(cout)) if act else nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """Inverted residual: 1x1 expand, 3x3 depthwise, 1x1 linear projection; a skip when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        self.body = nn.Sequential(
            _conv(cin, hidden, 1), _conv(hidden, hidden, 3, stride, hidden), _conv(hidden, cout, 1, act=False)
        )
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.skip else self.body(x)


class MobileFaceNet(nn.Module):
    """Input (N, 3, 112, 112) pixels in 0..255; output a tuple holding the (N, dim) embeddings (the
    calling convention of the ONNX-graph modules, so the same TorchEmbedder runs both)."""

    def __init__(self, dim: int = 128):
        super().__init__()
        layers = [_conv(3, 64, 3, 2), _conv(64, 64, 3, 1, 64)]
        channels = 64
        for expansion, out, blocks, stride in STAGES:
            for b in range(blocks):
                layers.append(Bottleneck(channels, out, stride if b == 0 else 1, expansion))
                channels = out
        layers += [
            _conv(channels, 512, 1),
            _conv(512, 512, 7, 1, 512, act=False, padding=0),
        ]  # global depthwise conv: 7x7 -> 1x1
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Conv2d(512, dim, 1, bias=False), nn.BatchNorm2d(dim))
        self.dim = dim

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor]:
        x = self.features((pixels - 127.5) / 128.0)
        return (self.head(x).flatten(1),)
