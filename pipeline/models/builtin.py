"""The models that ship with facepipe as model factories, found by name through the ``facepipe.detectors``
and ``facepipe.embedders`` entry points of pyproject.toml as a third party's are: each picks its engine
and weights file from the models settings, then loads them on that engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pipeline.config import ModelsConfig
from pipeline.errors import ConfigError
from pipeline.models.catalog import (
    DETECTORS,
    EMBEDDERS,
    dlib_model_id,
    float_graph,
    float_graph_bytes,
    model_id,
    packaged_model_file,
    resolve_engine,
)
from pipeline.models.detectors import ScrfdDetector, YuNetDetector, YuNetOpenVinoDetector, YuNetTorchDetector
from pipeline.models.embedders import OnnxRuntimeEmbedder, OpenCVSFaceEmbedder, OpenVinoEmbedder, TorchEmbedder
from pipeline.models.protocols import Detector, Embedder, ModelChoice

if TYPE_CHECKING:
    from torch import nn


def _onnx_output_dim(path: Path) -> int:
    """The last dimension of an ONNX model's first output (a bring-your-own embedder's size)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return int(graph.output[0].type.tensor_type.shape.dim[-1].dim_value)


@dataclass(frozen=True)
class CatalogModel:
    """A model of the catalog: its engine resolved from the catalog's spec and the device, its weights
    the packaged file (checked by sha256), the user's models.*_path (bring your own) or dlib's;
    ``load_engine`` loads the choice on its engine."""

    kind: Literal["detector", "embedder"]
    load_engine: Callable[[ModelChoice, ModelsConfig, int], Detector | Embedder]

    def choose(self, name: str, settings: ModelsConfig, device: str) -> ModelChoice:
        """The choice of ``name`` on ``device``; ConfigError for an engine that cannot run it there, a
        bring-your-own model without its file, or a file given to a model that ships its own."""
        detector = self.kind == "detector"
        spec = (DETECTORS if detector else EMBEDDERS)[name]
        requested = settings.detector_engine if detector else settings.embedder_engine
        given = settings.detector_path if detector else settings.embedder_path
        engine = resolve_engine(spec, requested, device, f"models.{self.kind}_engine")
        if engine == "dlib":
            return ModelChoice(name, engine, device, None, dlib_model_id(name), spec.dim)
        if spec.filename:
            if given:
                raise ConfigError(
                    f"models.{self.kind}_path is for bring-your-own models; {name!r} ships its own weights"
                )
            path = packaged_model_file(name)
        elif not given or not Path(given).is_file():
            raise ConfigError(f"models.{self.kind}={name} needs models.{self.kind}_path=FILE.onnx (got {given!r})")
        else:
            path = Path(given)
        dim = spec.dim or (0 if detector else _onnx_output_dim(path))
        return ModelChoice(name, engine, device, str(path), model_id(name, path), dim)

    def load(self, choice: ModelChoice, settings: ModelsConfig, threads: int) -> Detector | Embedder:
        """The chosen model, loaded on its engine with ``threads`` CPU threads."""
        return self.load_engine(choice, settings, threads)


def detection_settings(settings: ModelsConfig) -> dict:
    """The detector keyword arguments the models settings hold."""
    return dict(
        max_side=settings.detect_max_side,
        score_threshold=settings.score_threshold,
        nms_threshold=settings.nms_threshold,
        min_face_size=settings.min_face_size,
    )


def _torch_graph(name: str) -> nn.Module:
    from pipeline.models.onnx_torch import OnnxModule

    return OnnxModule(float_graph(name))


def _load_yunet(choice: ModelChoice, settings: ModelsConfig, threads: int) -> Detector:
    params = detection_settings(settings)
    if choice.engine == "opencv":
        return YuNetDetector(Path(choice.file), choice.model_id, **params)
    if choice.engine == "openvino":
        return YuNetOpenVinoDetector(float_graph_bytes(choice.name), choice.model_id, threads, **params)
    return YuNetTorchDetector(_torch_graph(choice.name), choice.model_id, choice.device, threads, **params)


def _load_scrfd(choice: ModelChoice, settings: ModelsConfig, threads: int) -> Detector:
    return ScrfdDetector(Path(choice.file), choice.model_id, choice.device, threads, **detection_settings(settings))


def _load_dlib_detector(choice: ModelChoice, settings: ModelsConfig, threads: int) -> Detector:
    from pipeline.models.dlib_models import DlibDetector

    return DlibDetector(choice.model_id, choice.name.removeprefix("dlib_"), min_face_size=settings.min_face_size)


def _load_sface(choice: ModelChoice, settings: ModelsConfig, threads: int) -> Embedder:
    if choice.engine == "opencv":
        return OpenCVSFaceEmbedder(Path(choice.file), choice.model_id, choice.dim)
    if choice.engine == "onnxruntime":
        return OnnxRuntimeEmbedder(float_graph_bytes(choice.name), choice.model_id, choice.device, threads)
    if choice.engine == "openvino":
        return OpenVinoEmbedder(float_graph_bytes(choice.name), choice.model_id, threads)
    return TorchEmbedder(_torch_graph(choice.name), choice.model_id, choice.dim, choice.device, threads)


def _load_arcface(choice: ModelChoice, settings: ModelsConfig, threads: int) -> Embedder:
    mean, std = settings.embedder_mean, settings.embedder_std
    return OnnxRuntimeEmbedder(Path(choice.file), choice.model_id, choice.device, threads, mean, std)


def _load_dlib_embedder(choice: ModelChoice, settings: ModelsConfig, threads: int) -> Embedder:
    from pipeline.models.dlib_models import DlibEmbedder

    return DlibEmbedder(choice.model_id)


yunet = CatalogModel("detector", _load_yunet)
scrfd = CatalogModel("detector", _load_scrfd)  # bring your own: InsightFace SCRFD with keypoints
dlib_detector = CatalogModel("detector", _load_dlib_detector)  # dlib_hog and dlib_mmod
sface = CatalogModel("embedder", _load_sface)
arcface = CatalogModel("embedder", _load_arcface)  # bring your own: any 112x112 ArcFace-style ONNX
dlib_embedder = CatalogModel("embedder", _load_dlib_embedder)


def sface_network(dim: int = 128) -> nn.Module:
    """The ``sface`` architecture of model packs: the default embedder's graph as a torch module with
    its released weights (the starting point of fine-tuning); 128-d only."""
    if dim != EMBEDDERS["sface"].dim:
        raise ConfigError(f"the sface architecture is pretrained at {EMBEDDERS['sface'].dim} dimensions, not {dim}")
    return _torch_graph("sface")
