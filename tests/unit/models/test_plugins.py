"""Models that plug in: entry points found lazily, factories registered in the process, the model stage
driven by the protocols' attributes, and plug-ins that break their promises refused."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.config import ModelsConfig
from pipeline.errors import ConfigError
from pipeline.ingest.analyze import AnalyzeFaces
from pipeline.models import registry
from pipeline.models.align import align_faces
from pipeline.models.embedders import l2_normalize
from pipeline.models.plugins import Plugins
from pipeline.models.protocols import TEMPLATE_ALIGNMENT, ModelChoice
from pipeline.models.registry import load_embedder, register_embedder, resolve_models


def fake_distribution(folder: Path, name: str, entry_points: str, modules: dict[str, str]) -> None:
    """An installed package as importlib.metadata sees one: its modules and a dist-info folder."""
    info = folder / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for module, source in modules.items():
        (folder / f"{module}.py").write_text(textwrap.dedent(source))


def test_entry_points_load_only_the_chosen_one_and_unknown_names_list_them(tmp_path, monkeypatch):
    fake_distribution(
        tmp_path / "one",
        "plugs-one",
        """
        [facepipe.embedders]
        tiny = plugs_tiny:factory
        broken = plugs_broken:factory
        """,
        {"plugs_tiny": "factory = 'the tiny factory'", "plugs_broken": "raise ImportError('not chosen')"},
    )
    monkeypatch.syspath_prepend(str(tmp_path / "one"))
    embedders = Plugins("facepipe.embedders", "embedder")

    assert embedders.get("tiny") == "the tiny factory"
    assert "plugs_broken" not in sys.modules
    assert {"tiny", "broken", "sface", "arcface", "dlib"} <= set(embedders.names())  # facepipe's own too
    with pytest.raises(ConfigError, match=r"unknown embedder 'tinny'; known: .*broken.*sface.*tiny"):
        embedders.get("tinny")
    embedders.register("broken", "registered here")
    assert embedders.get("broken") == "registered here"

    fake_distribution(tmp_path / "two", "plugs-two", "[facepipe.embedders]\ntiny = plugs_other:factory\n", {})
    monkeypatch.syspath_prepend(str(tmp_path / "two"))
    with pytest.raises(ConfigError, match="'tiny' is declared by more than one package: .*plugs-one.*plugs-two"):
        Plugins("facepipe.embedders", "embedder").get("tiny")


def test_resolving_the_default_models_imports_no_engine_it_does_not_run():
    code = (
        "import sys; from pipeline.config import ModelsConfig; from pipeline.models.registry import resolve_models; "
        "resolve_models(ModelsConfig(device='cpu')); "
        "print(sorted(m for m in ('torch', 'onnx', 'dlib', 'openvino', 'onnxruntime') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


class GreyProjection:
    """A 64-d embedder of 96x96 template crops: a fixed random projection of the grey pixels."""

    dim, device, crop_size, alignment, device_input = 64, "cpu", 96, TEMPLATE_ALIGNMENT, False

    def __init__(self, model_id: str, dim: int = 64):
        self.model_id, self.dim = model_id, dim
        self.matrix = np.random.default_rng(0).standard_normal((96 * 96, dim)).astype(np.float32)
        self.shapes: list[tuple] = []

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        self.shapes.append(crops.shape)
        grey = crops.astype(np.float32).mean(axis=3).reshape(len(crops), -1)
        return l2_normalize((grey - grey.mean(axis=1, keepdims=True)) @ self.matrix)


class GreyProjectionFactory:
    def __init__(self, loaded_dim: int = 64):
        self.loaded_dim = loaded_dim

    def choose(self, name: str, settings: ModelsConfig, device: str) -> ModelChoice:
        return ModelChoice(name, "numpy", "cpu", None, f"{name}:seed0", 64)

    def load(self, choice: ModelChoice, settings: ModelsConfig, threads: int) -> GreyProjection:
        return GreyProjection(choice.model_id, self.loaded_dim)


@pytest.fixture
def embedders(monkeypatch) -> Plugins:
    """The registry's embedders, with registrations made in the test forgotten after it."""
    plugins = Plugins("facepipe.embedders", "embedder")
    monkeypatch.setattr(registry, "EMBEDDER_FACTORIES", plugins)
    return plugins


def test_a_registered_embedder_runs_in_the_model_stage_at_its_crop_size_and_dimension(embedders, lfw_images):
    register_embedder("grey", GreyProjectionFactory())
    models = resolve_models(ModelsConfig(device="cpu", embedder="grey"))
    assert models.ids()["embedder"] == "grey:seed0" and models.ids()["embedding_dim"] == 64

    stage = AnalyzeFaces(models)
    image = np.asarray(Image.open(lfw_images / "Tony_Blair" / "Tony_Blair_0001.jpg").convert("RGB"))
    (faces,) = stage.faces_of([image])
    assert not stage.on_device and stage.embedder.shapes == [(len(faces), 96, 96, 3)]
    landmarks = np.stack([face["landmarks"] for face in faces])
    expected = GreyProjection("grey:seed0")(align_faces(image, landmarks, 96))
    np.testing.assert_allclose(np.stack([face["embedding"] for face in faces]), expected, atol=1e-6)
    assert stage.schema.field("faces").type.value_type.field("embedding").type.list_size == 64


def test_a_plugin_that_breaks_its_promises_is_refused(embedders):
    register_embedder("wrong_dim", GreyProjectionFactory(loaded_dim=32))
    with pytest.raises(TypeError, match=r"chose wrong_dim:seed0 \(64-d\) but loaded wrong_dim:seed0 \(32-d\)"):
        load_embedder(resolve_models(ModelsConfig(device="cpu", embedder="wrong_dim")))

    class NotAnEmbedder(GreyProjectionFactory):
        def load(self, choice, settings, threads):
            return object()

    register_embedder("not_one", NotAnEmbedder())
    with pytest.raises(TypeError, match="loaded a object, which does not implement the Embedder protocol"):
        load_embedder(resolve_models(ModelsConfig(device="cpu", embedder="not_one")))

    register_embedder("no_factory", "a string")
    with pytest.raises(ConfigError, match="embedder 'no_factory' is not a model factory"):
        resolve_models(ModelsConfig(device="cpu", embedder="no_factory"))
