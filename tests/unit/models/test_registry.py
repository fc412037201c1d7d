"""Resolving models once: names, engines, devices, ids."""

from __future__ import annotations

import pytest

from pipeline.config import ModelsConfig
from pipeline.errors import ConfigError
from pipeline.models.catalog import DETECTORS, resolve_engine
from pipeline.models.registry import resolve_models


def test_engine_choice_is_checked_against_model_and_device():
    spec = DETECTORS["yunet"]
    assert resolve_engine(spec, "auto", "cpu", "models.detector_engine") == spec.cpu_engine
    assert resolve_engine(spec, "auto", "cuda", "models.detector_engine") == "torch"
    with pytest.raises(ConfigError, match="models.detector_engine=onnxruntime cannot run"):
        resolve_engine(spec, "onnxruntime", "cpu", "models.detector_engine")
    with pytest.raises(ConfigError, match="set models.device=cpu"):
        resolve_engine(spec, "opencv", "cuda", "models.detector_engine")


def test_unknown_models_and_devices_fail_with_a_fix():
    with pytest.raises(ConfigError, match="unknown detector 'retina'"):
        resolve_models(ModelsConfig(detector="retina"))
    with pytest.raises(ConfigError, match="models.device"):
        resolve_models(ModelsConfig(device="cuda"))


def test_the_driver_resolves_model_ids_without_loading_a_model(monkeypatch):
    # a GPU node may lack OpenVINO (the CPU default) and a CPU driver lacks CUDA: resolving the models for
    # the cluster's device loads none of them, and the ids depend on neither the device nor the engine
    import pipeline.models.builtin as builtin

    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded")

    for name in ("OpenVinoEmbedder", "TorchEmbedder", "OnnxRuntimeEmbedder", "YuNetDetector", "YuNetTorchDetector"):
        monkeypatch.setattr(builtin, name, no_loading)
    configured = ModelsConfig(device="cuda", detector_engine="torch", embedder_engine="torch")
    on_gpus = resolve_models(configured, "cuda")  # this machine has no CUDA: nothing is checked or loaded here

    assert on_gpus.embedder.device == "cuda" and on_gpus.embedder.engine == "torch"
    assert on_gpus.ids() == resolve_models(ModelsConfig(device="cpu", embedder_engine="onnxruntime")).ids()
