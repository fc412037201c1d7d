"""Model packs of any registered architecture and any dimension, run as the configured embedder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from pipeline.config import ModelsConfig
from pipeline.errors import ConfigError
from pipeline.models import packs
from pipeline.models.plugins import Plugins
from pipeline.models.registry import load_embedder, resolve_models


def test_a_pack_runs_at_the_dimension_it_was_built_with(tmp_path):
    torch.manual_seed(0)
    network = packs.build_network("mobilefacenet", 64)
    packs.write_pack(tmp_path, "mobilefacenet", network, {"note": "untrained"})
    assert network.training  # measuring the pack's dimension left the network in its training mode

    models = resolve_models(ModelsConfig(device="cpu", embedder=str(tmp_path)))
    assert models.ids()["embedding_dim"] == 64 and models.embedder.model_id.startswith("mobilefacenet-pack@")
    crops = np.random.default_rng(0).integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    vectors = load_embedder(models)(crops)
    with torch.inference_mode():
        expected = network.eval()(torch.from_numpy(crops).permute(0, 3, 1, 2).float())[0]
    assert vectors.shape == (3, 64)
    np.testing.assert_allclose(vectors, torch.nn.functional.normalize(expected).numpy(), atol=1e-5)


class TinyNet(nn.Module):
    """A third party's architecture: pooled pixels through one linear layer."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(3 * 8 * 8, dim)

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.linear(nn.functional.adaptive_avg_pool2d(pixels / 255, 8).flatten(1)),)


def test_a_registered_architecture_packs_and_loads_back(tmp_path, monkeypatch):
    monkeypatch.setattr(packs, "ARCHITECTURES", Plugins("facepipe.architectures", "architecture"))
    packs.register_architecture("tiny", TinyNet)
    torch.manual_seed(0)
    network = packs.build_network("tiny", 24)
    packs.write_pack(tmp_path, "tiny", network, {})

    assert packs.pack_identity(tmp_path)[1] == 24
    pixels = torch.rand(2, 3, 112, 112) * 255
    assert torch.equal(packs.load_pack(tmp_path)(pixels)[0], network(pixels)[0])


def test_architectures_refuse_what_they_cannot_build():
    with pytest.raises(ConfigError, match="sface architecture is pretrained at 128 dimensions, not 64"):
        packs.build_network("sface", 64)
    with pytest.raises(ConfigError, match="unknown architecture 'resnet'; known: .*mobilefacenet.*sface"):
        packs.build_network("resnet")
