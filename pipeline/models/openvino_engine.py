"""OpenVINO on the CPU: a float ONNX graph compiled once per model instance, float32 throughout."""

from __future__ import annotations


def compile_for_cpu(model_bytes: bytes, input_shape: list[int], threads: int = 1):
    """The ONNX graph ``model_bytes`` (weights inside) compiled for the CPU with its input reshaped to
    ``input_shape`` (-1: dynamic), at float32 on ``threads`` threads; returns the compiled model."""
    import openvino as ov

    core = ov.Core()
    network = core.read_model(model=model_bytes, weights=b"")
    network.reshape({network.inputs[0]: input_shape})
    config = {
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32",
        "ENABLE_CPU_PINNING": False,
    }  # several actors share the cores: no pinning
    return core.compile_model(network, "CPU", config)
