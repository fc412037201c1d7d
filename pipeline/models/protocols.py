"""What a model plug-in implements: the Detector and Embedder protocols, and the factory that resolves a
model from the ``models`` settings (ModelChoice, nothing loaded) and then loads it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from pipeline.config import ModelsConfig
    from pipeline.models.detectors import Detections

Alignment = Literal["arcface_template", "own"]
TEMPLATE_ALIGNMENT: Alignment = "arcface_template"  # 5 landmarks onto the ArcFace template, scaled to crop_size
OWN_ALIGNMENT: Alignment = "own"  # the embedder cuts its crops itself: align(image, detections)


@runtime_checkable
class Detector(Protocol):
    """Photos in, faces out: called with a list of HxWx3 uint8 RGB photos (any size), returns a Detections
    per photo in its pixels, best score first.

    ``max_side``: the longest side it detects at (it scales larger photos down itself; 0: as given).
    ``device_input``: it also detects photos already on its torch ``device`` (see DeviceDetector)."""

    model_id: str
    device: str
    max_side: int
    device_input: bool

    def __call__(self, images: list[np.ndarray]) -> list[Detections]: ...


class DeviceDetector(Detector, Protocol):
    """A detector with ``device_input``: the GPU path hands it the photos where they already are."""

    def detect_on_device(self, photos) -> list[Detections]:
        """Detections per photo of same-shaped photos on the device: an (N, 3, H, W) uint8 RGB tensor."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Crops in, vectors out: called with (N, crop_size, crop_size, 3) uint8 RGB crops, returns (N, dim)
    float32 rows of unit L2 norm.

    ``alignment``: TEMPLATE_ALIGNMENT (crops warped onto the 112x112 ArcFace 5-point template, scaled to
    ``crop_size``) or OWN_ALIGNMENT (see SelfAligningEmbedder). ``device_input``: it also takes crops as
    torch tensors on its ``device`` (see DeviceEmbedder)."""

    model_id: str
    dim: int
    device: str
    crop_size: int
    alignment: Alignment
    device_input: bool

    def __call__(self, crops: np.ndarray) -> np.ndarray: ...


class DeviceEmbedder(Embedder, Protocol):
    """An embedder with ``device_input``: it also takes (N, 3, crop_size, crop_size) tensors of ``dtype``
    on its device (pixel values 0..255), warped there by the GPU path."""

    dtype: object  # a torch.dtype


class SelfAligningEmbedder(Embedder, Protocol):
    """An embedder with OWN_ALIGNMENT, such as dlib's descriptor on its face chips."""

    def align(self, image: np.ndarray, found: Detections) -> np.ndarray:
        """(N, crop_size, crop_size, 3) uint8 crops of the N faces ``found`` in the HxWx3 RGB ``image``."""
        ...


@dataclass(frozen=True)
class ModelChoice:
    """One model as it will run, resolved before anything loads: the name it was chosen by (or a pack
    folder), engine, device ("cpu" or "cuda"), weights file (None when it has none of the user's or
    facepipe's), the id recorded with its faces and, for an embedder, its dimension (0 for a detector).
    ``factory`` is the one that chose it and will load it (set by the registry; it travels with the
    choice to the processes that run the model)."""

    name: str
    engine: str
    device: str
    file: str | None
    model_id: str
    dim: int = 0
    factory: ModelFactory | None = field(default=None, compare=False, repr=False)


@runtime_checkable
class ModelFactory(Protocol):
    """What a registered name stands for. ``choose`` reads the models settings for the model ``name`` on
    ``device`` (the resolved one: cpu or cuda) and returns its ModelChoice without loading anything (the
    job records ids and dimension before any model runs; raise ConfigError for settings it cannot run
    with); ``load`` loads that choice where it runs, using ``threads`` CPU threads."""

    def choose(self, name: str, settings: ModelsConfig, device: str) -> ModelChoice: ...

    def load(self, choice: ModelChoice, settings: ModelsConfig, threads: int) -> Detector | Embedder: ...
