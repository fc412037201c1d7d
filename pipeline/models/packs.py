"""Trainable embedder networks and model packs: the folder a training run leaves behind, which
``models.embedder=PATH`` runs in embed, eval and everything else (on the torch engine).

A pack holds ``facepipe-model.json`` (architecture, dimension, weights file and its sha256, how it
was trained) and ``weights.pt`` (the network's state dict)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch loads only where a pack is built or read: the CPU engines never need it
    from torch import nn

PACK_FILE = "facepipe-model.json"
WEIGHTS_FILE = "weights.pt"
ARCHITECTURES = ("sface", "mobilefacenet")
EMBEDDING_DIM = 128


def build_network(architecture: str) -> nn.Module:
    """``sface``: the default embedder's graph as a torch module with its released weights (the
    starting point of fine-tuning); ``mobilefacenet``: a MobileFaceNet at random initialisation."""
    if architecture == "sface":
        from pipeline.models.catalog import float_graph
        from pipeline.models.onnx_torch import OnnxModule

        return OnnxModule(float_graph("sface"))
    if architecture == "mobilefacenet":
        from pipeline.models.mobilefacenet import MobileFaceNet

        return MobileFaceNet(EMBEDDING_DIM)
    raise ValueError(f"unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}")


def is_pack(path: str | Path) -> bool:
    return (Path(path) / PACK_FILE).is_file()


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
        "dim": EMBEDDING_DIM,
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
    pack_identity(directory)
    manifest = json.loads((directory / PACK_FILE).read_text())
    network = build_network(manifest["architecture"])
    network.load_state_dict(torch.load(directory / manifest["weights"], map_location="cpu", weights_only=True))
    return network
