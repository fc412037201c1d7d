"""The ONNX graph as a torch module under mixed precision, as training runs it on a GPU."""

from __future__ import annotations

import torch

from pipeline.models.catalog import float_graph
from pipeline.models.onnx_torch import OnnxModule


def test_sface_trains_under_autocast_with_float32_weights() -> None:
    # autocast keeps the weights float32 while convolutions emit a lower precision: batch norm must
    # take its running statistics in the weights' type (cuDNN refused the mix on the H100)
    network = OnnxModule(float_graph("sface")).train()
    pixels = torch.rand(2, 3, 112, 112) * 255
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = network(pixels)[0]
    out.float().pow(2).sum().backward()
    grads = [p.grad for p in network.parameters() if p.grad is not None]

    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_folded_graphs_take_only_the_photo_and_any_batch():
    for name in ("yunet", "sface"):
        graph = float_graph(name).graph
        assert len(graph.input) == 1
        assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
        assert not any(node.op_type == "DequantizeLinear" for node in graph.node)
