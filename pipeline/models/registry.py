"""Models by name, resolved once: the configuration's detector and embedder become ModelChoices (name,
engine, device, weights file, model id, dimension) before any work starts, and the models are loaded
from those. A name is a model factory registered in this process (register_detector, register_embedder)
or declared by an installed package in the ``facepipe.detectors`` / ``facepipe.embedders`` entry-point
groups, facepipe's own models included; a folder is a model pack. One place decides the device:
``auto`` is CUDA when torch sees one."""

from __future__ import annotations

import glob
import os
import sys
from dataclasses import dataclass, replace

from pipeline.config import ModelsConfig
from pipeline.errors import ConfigError
from pipeline.models.packs import PackEmbedder, is_pack
from pipeline.models.plugins import Plugins
from pipeline.models.protocols import Detector, Embedder, ModelChoice, ModelFactory

DETECTOR_FACTORIES = Plugins("facepipe.detectors", "detector")
EMBEDDER_FACTORIES = Plugins("facepipe.embedders", "embedder")


def register_detector(name: str, factory: ModelFactory) -> None:
    """Make ``factory`` the detector called ``name`` (models.detector=NAME) in this process, over an
    entry point of that name."""
    DETECTOR_FACTORIES.register(name, factory)


def register_embedder(name: str, factory: ModelFactory) -> None:
    """Make ``factory`` the embedder called ``name`` (models.embedder=NAME) in this process, over an
    entry point of that name."""
    EMBEDDER_FACTORIES.register(name, factory)


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


def _factory(factories: Plugins, name: str) -> ModelFactory:
    """The factory registered as ``name``; ConfigError when there is none or it is not a factory."""
    factory = factories.get(name)
    if not isinstance(factory, ModelFactory):
        raise ConfigError(f"{factories.kind} {name!r} is not a model factory (it needs choose() and load())")
    return factory


def _choose(factory: ModelFactory, name: str, cfg: ModelsConfig, device: str) -> ModelChoice:
    """``factory``'s choice for ``name``, keeping the factory that will load it."""
    return replace(factory.choose(name, cfg, device), factory=factory)


def resolve_models(cfg: ModelsConfig, device: str | None = None) -> ModelChoices:
    """The configured detector and embedder resolved for ``device`` (default: models.device resolved
    on this machine; a job passes the device of the machines its models will run on). Raises
    ConfigError for an unknown model, an engine that cannot run it there, or a missing file. Loads
    no model and imports only the chosen models' factories: ids come from the weights' hashes."""
    device = device or resolve_device(cfg.device)
    detector = _choose(_factory(DETECTOR_FACTORIES, cfg.detector), cfg.detector, cfg, device)
    embedder_factory = PackEmbedder() if is_pack(cfg.embedder) else _factory(EMBEDDER_FACTORIES, cfg.embedder)
    return ModelChoices(detector, _choose(embedder_factory, cfg.embedder, cfg, device), cfg)


def _checked(model, protocol: type, choice: ModelChoice):
    """``model`` when it keeps the promises of ``protocol`` and of its choice (model id, dimension)."""
    if not isinstance(model, protocol):
        raise TypeError(
            f"the factory of {choice.name!r} loaded a {type(model).__name__}, which does not implement the "
            f"{protocol.__name__} protocol (pipeline.models.protocols)"
        )
    dim = getattr(model, "dim", choice.dim)
    if (model.model_id, dim) != (choice.model_id, choice.dim):
        raise TypeError(
            f"the factory of {choice.name!r} chose {choice.model_id} ({choice.dim}-d) but loaded {model.model_id} "
            f"({dim}-d)"
        )
    return model


def load_detector(models: ModelChoices, threads: int = 1) -> Detector:
    """The chosen detector, loaded with ``threads`` CPU threads (see Detector for how to call it)."""
    choice = models.detector
    return _checked(choice.factory.load(choice, models.settings, threads), Detector, choice)


def load_embedder(models: ModelChoices, threads: int = 1) -> Embedder:
    """The chosen embedder, loaded with ``threads`` CPU threads (see Embedder for how to call it)."""
    choice = models.embedder
    return _checked(choice.factory.load(choice, models.settings, threads), Embedder, choice)
