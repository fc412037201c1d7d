"""Trainable embedder networks and model packs: the folder a training run leaves behind, which
``models.embedder=PATH`` runs in embed, eval and everything else (on the torch engine).

A pack holds ``facepipe-model.json`` (architecture, dimension, weights file and its sha256, how it
was trained) and ``weights.pt`` (the network's state dict). Its architecture is any the architecture
registry knows: the built-in ``sface`` and ``mobilefacenet`` (entry points of the
``facepipe.architectures`` group, as a third party's are) or one added with register_architecture."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config import ModelsConfig
from pipeline.errors import ConfigError
from pipeline.models.align import CROP_SIZE
from pipeline.models.plugins import Plugins
from pipeline.models.protocols import Embedder, ModelChoice

if TYPE_CHECKING:  # torch loads only where a pack is built or read: the CPU engines never need it
    from torch import nn

PACK_FILE = "facepipe-model.json"
WEIGHTS_FILE = "weights.pt"
DEFAULT_DIM = 128
ARCHITECTURES = Plugins("facepipe.architectures", "architecture")


def register_architecture(name: str, builder: Callable[[int], nn.Module]) -> None:
    """Make ``builder`` (dimension -> torch module at initialisation, called with (N, 3, 112, 112) pixels
    0..255, returning a tuple whose first item is the (N, dim) embeddings) the architecture ``name`` in
    this process. Ray workers see only architectures declared as entry points."""
    ARCHITECTURES.register(name, builder)


def build_network(architecture: str, dim: int = DEFAULT_DIM) -> nn.Module:
    """The registered ``architecture`` built for ``dim`` dimensions (``sface``: the default embedder with
    its released weights, the starting point of fine-tuning, 128-d only; ``mobilefacenet``: a MobileFaceNet
    at random initialisation). ConfigError for an unknown architecture."""
    return ARCHITECTURES.get(architecture)(dim)


def is_pack(path: str | Path) -> bool:
    return (Path(path) / PACK_FILE).is_file()


def output_dim(network: nn.Module) -> int:
    """The embedding dimension of ``network``: the size of its first output for one blank crop (run on a
    copy, so that the network's own mode and device stay as they are)."""
    import torch

    probe = copy.deepcopy(network).to("cpu", torch.float32).eval()
    with torch.inference_mode():
        return int(probe(torch.zeros(1, 3, CROP_SIZE, CROP_SIZE))[0].numel())


def write_pack(directory: str | Path, architecture: str, network: nn.Module, info: dict) -> Path:
    """Save ``network``'s weights as a pack in ``directory``; returns the directory."""
    import torch

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHTS_FILE
    torch.save({k: v.detach().cpu() for k, v in network.state_dict().items()}, weights)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    manifest = {
        "architecture": architecture,
        "dim": output_dim(network),
        "weights": WEIGHTS_FILE,
        "sha256": digest,
        "info": info,
    }
    (directory / PACK_FILE).write_text(json.dumps(manifest, indent=2))
    return directory


def pack_identity(directory: str | Path) -> tuple[str, int]:
    """(model id, dimension) of the pack, its weights checked against the manifest's sha256. The model
    id names the architecture and the weights' digest, so faces embedded by two packs never mix in
    one index."""
    directory = Path(directory)
    manifest = json.loads((directory / PACK_FILE).read_text())
    digest = hashlib.sha256((directory / manifest["weights"]).read_bytes()).hexdigest()
    if digest != manifest["sha256"]:
        raise ValueError(f"{directory / manifest['weights']} does not match the sha256 in {directory / PACK_FILE}")
    return f"{manifest['architecture']}-pack@{digest[:16]}", int(manifest["dim"])


def load_pack(directory: str | Path) -> nn.Module:
    """The pack's network with its weights (checked as pack_identity checks them)."""
    import torch

    directory = Path(directory)
    _, dim = pack_identity(directory)
    manifest = json.loads((directory / PACK_FILE).read_text())
    network = build_network(manifest["architecture"], dim)
    network.load_state_dict(torch.load(directory / manifest["weights"], map_location="cpu", weights_only=True))
    return network


class PackEmbedder:
    """The model factory of a pack folder (models.embedder=PATH): its network on the torch engine."""

    def choose(self, name: str, settings: ModelsConfig, device: str) -> ModelChoice:
        """The pack ``name`` (a folder) on ``device``: its id and dimension from the manifest, weights
        checked."""
        if settings.embedder_engine not in ("auto", "torch"):
            raise ConfigError("a model pack (models.embedder=PATH) runs on models.embedder_engine=torch only")
        identity, dim = pack_identity(name)
        return ModelChoice(name, "torch", device, str(name), identity, dim)

    def load(self, choice: ModelChoice, settings: ModelsConfig, threads: int) -> Embedder:
        """The pack's network as a TorchEmbedder on the choice's device."""
        from pipeline.models.embedders import TorchEmbedder

        return TorchEmbedder(load_pack(choice.file), choice.model_id, choice.dim, choice.device, threads)
