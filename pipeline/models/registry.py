"""Models by name, resolved once: the configuration's detector and embedder become ModelChoices (name,
engine, device, weights file, model id, dimension) before any work starts, and the model classes are
built from those. One place decides the device: ``auto`` is CUDA when torch sees one."""

from __future__ import annotations

import glob
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import ModelsConfig
from pipeline.errors import ConfigError
from pipeline.models.catalog import (
    DETECTORS,
    EMBEDDERS,
    ENGINE_DEVICES,
    ModelSpec,
    dlib_model_id,
    float_graph,
    float_graph_bytes,
    model_id,
    packaged_model_file,
)
from pipeline.models.detectors import ScrfdDetector, YuNetDetector, YuNetOpenVinoDetector, YuNetTorchDetector
from pipeline.models.embedders import OnnxRuntimeEmbedder, OpenCVSFaceEmbedder, OpenVinoEmbedder, TorchEmbedder
from pipeline.models.packs import is_pack, load_pack, pack_identity


@dataclass(frozen=True)
class ModelChoice:
    """One model as it will run: registry name (or pack folder), engine, device, weights file (None:
    dlib's packaged weights) and the id recorded with its faces; ``dim`` for"""

    name: str
    engine: str
    device: str
    file: str | None
    model_id: str
    dim: int = 0


@dataclass(frozen=True)
class ModelChoices:
    """The detector and embedder a job runs, and the settings they run with."""

    detector: ModelChoice
    embedder: ModelChoice
    settings: ModelsConfig

    def ids(self) -> dict:
        """What the tables record: model ids and the embedding dimension."""
        return {
            "detector": self.detector.model_id,
            "embedder": self.embedder.model_id,
            "embedding_dim": self.embedder.dim,
        }

    def describe(self) -> dict:
        """Ids, engines and device, for summaries."""
        return {
            **self.ids(),
            "detector_engine": self.detector.engine,
            "embedder_engine": self.embedder.engine,
            "device": self.embedder.device,
        }


def _no_nvidia_device() -> bool:
    """True on a Linux machine with no NVIDIA device node (nor WSL's GPU bridge): no CUDA there, known
    without importing torch (about 4 s of a small run's start-up)."""
    return sys.platform == "linux" and not glob.glob("/dev/nvidia*") and not os.path.exists("/dev/dxg")


def cuda_available() -> bool:
    """True when torch sees a CUDA device."""
    if _no_nvidia_device():
        return False
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


def _onnx_output_dim(path: Path) -> int:
    """The last dimension of an ONNX model's first output (a bring-your-own embedder's size)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return int(graph.output[0].type.tensor_type.shape.dim[-1].dim_value)


def _choose(
    registry: dict[str, ModelSpec], kind: str, name: str, engine: str, device: str, given: str | None
) -> ModelChoice:
    spec = _lookup(registry, kind, name)
    engine = resolve_engine(spec, engine, device, f"models.{kind}_engine")
    if engine == "dlib":
        return ModelChoice(name, engine, device, None, dlib_model_id(name), spec.dim)
    path = _model_file(kind, name, spec, given)
    dim = spec.dim or (_onnx_output_dim(path) if kind == "embedder" else 0)
    return ModelChoice(name, engine, device, str(path), model_id(name, path), dim)


def resolve_models(cfg: ModelsConfig, device: str | None = None) -> ModelChoices:
    """The configured detector and embedder resolved for ``device`` (default: models.device resolved
    on this machine; a job passes the device of the machines its models will run on). Raises
    ConfigError for an unknown model, an engine that cannot run it there, or a missing file. Loads
    no model: ids come from the weights' hashes."""
    device = device or resolve_device(cfg.device)
    detector = _choose(DETECTORS, "detector", cfg.detector, cfg.detector_engine, device, cfg.detector_path)
    if is_pack(cfg.embedder):
        if cfg.embedder_engine not in ("auto", "torch"):
            raise ConfigError("a model pack (models.embedder=PATH) runs on models.embedder_engine=torch only")
        identity, dim = pack_identity(cfg.embedder)
        embedder = ModelChoice(cfg.embedder, "torch", device, str(cfg.embedder), identity, dim)
    else:
        embedder = _choose(EMBEDDERS, "embedder", cfg.embedder, cfg.embedder_engine, device, cfg.embedder_path)
    return ModelChoices(detector, embedder, cfg)


def load_detector(models: ModelChoices, threads: int = 1):
    """The chosen detector, loaded; call it with a list of HxWx3 uint8 RGB photos."""
    choice, cfg = models.detector, models.settings
    params = dict(
        max_side=cfg.detect_max_side,
        score_threshold=cfg.score_threshold,
        nms_threshold=cfg.nms_threshold,
        min_face_size=cfg.min_face_size,
    )
    if choice.engine == "dlib":
        from pipeline.models.dlib_models import DlibDetector

        return DlibDetector(choice.model_id, choice.name.removeprefix("dlib_"), min_face_size=cfg.min_face_size)
    path = Path(choice.file)
    if choice.name == "scrfd":
        return ScrfdDetector(path, choice.model_id, choice.device, threads, **params)
    if choice.engine == "opencv":
        return YuNetDetector(path, choice.model_id, **params)
    if choice.engine == "openvino":
        return YuNetOpenVinoDetector(float_graph_bytes(choice.name), choice.model_id, threads, **params)
    from pipeline.models.onnx_torch import OnnxModule

    return YuNetTorchDetector(OnnxModule(float_graph(choice.name)), choice.model_id, choice.device, **params)


def load_embedder(models: ModelChoices, threads: int = 1):
    """The chosen embedder, loaded; call it with (N, 112, 112, 3) crops."""
    choice, cfg = models.embedder, models.settings
    if is_pack(choice.name):
        return TorchEmbedder(load_pack(choice.name), choice.model_id, choice.dim, choice.device)
    if choice.engine == "dlib":
        from pipeline.models.dlib_models import DlibEmbedder

        return DlibEmbedder(choice.model_id)
    path = Path(choice.file)
    if choice.name == "arcface":
        return OnnxRuntimeEmbedder(path, choice.model_id, choice.device, threads, cfg.embedder_mean, cfg.embedder_std)
    if choice.engine == "opencv":
        return OpenCVSFaceEmbedder(path, choice.model_id, choice.dim)
    if choice.engine == "onnxruntime":
        return OnnxRuntimeEmbedder(float_graph_bytes(choice.name), choice.model_id, choice.device, threads)
    if choice.engine == "openvino":
        return OpenVinoEmbedder(float_graph_bytes(choice.name), choice.model_id, threads)
    from pipeline.models.onnx_torch import OnnxModule

    return TorchEmbedder(OnnxModule(float_graph(choice.name)), choice.model_id, choice.dim, choice.device)
