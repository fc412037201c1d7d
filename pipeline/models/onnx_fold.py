"""ONNX graphs of the model registry made ready for any engine: quantised weights folded to float32
and the batch dimension made dynamic. No torch here: the CPU engines load without it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

BATCH = "batch"


def fold_to_float(path: str | Path) -> onnx.ModelProto:
    """The model at ``path`` with every constant subgraph (DequantizeLinear of int8 weights,
    reshapes of weights) evaluated once into float initializers, initializers removed from the
    graph inputs (with unused inputs), and a dynamic batch dimension: leading 1s of reshape targets become 0 (copy)."""
    model = onnx.load(str(path))
    graph = model.graph
    constant = {init.name for init in graph.initializer}
    constant |= {out for node in graph.node if node.op_type == "Constant" for out in node.output}
    const_nodes, compute_nodes = [], []
    for node in graph.node:
        if node.op_type == "Constant" or all(i in constant or i == "" for i in node.input):
            const_nodes.append(node)
            constant.update(node.output)
        else:
            compute_nodes.append(node)
    needed = sorted({i for node in compute_nodes for i in node.input if i in constant})
    folding = helper.make_model(
        helper.make_graph(
            const_nodes,
            "fold",
            [],
            [helper.make_tensor_value_info(n, 0, None) for n in needed],
            initializer=list(graph.initializer),
        ),
        opset_imports=model.opset_import,
    )
    values = dict(zip(needed, ReferenceEvaluator(folding).run(None, {})))
    for node in compute_nodes:
        if node.op_type == "Reshape" and node.input[1] in values:
            target = np.array(values[node.input[1]], dtype=np.int64)
            if target.size and target[0] == 1:
                target[0] = 0
            values[node.input[1]] = target
    consumed = {i for node in compute_nodes for i in node.input}
    inputs = [i for i in graph.input if i.name not in constant and i.name in consumed]
    for value in [*inputs, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = BATCH
    folded = helper.make_graph(
        compute_nodes,
        graph.name,
        inputs,
        list(graph.output),
        initializer=[numpy_helper.from_array(np.asarray(v), name=k) for k, v in values.items()],
    )
    result = helper.make_model(folded, opset_imports=model.opset_import, ir_version=model.ir_version)
    onnx.checker.check_model(result)
    return result
