"""ONNX graphs of the model registry: quantised weights folded to float32, batch made dynamic, and
the graph run as a torch module whose weights are parameters (so the same network infers on CPU
or CUDA and can be fine-tuned).

Written here rather than taken from onnx2torch because onnx2torch imports torchvision, whose
wheels do not import beside the CPU build of torch this project installs; the default models use
only the dozen operators below.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from torch import nn

BATCH = "batch"


def _attributes(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


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


# Inputs that are learnable weights (everything else constant is a buffer).
_WEIGHT_INPUTS = {"Conv": (1, 2), "Gemm": (1, 2), "PRelu": (1,), "BatchNormalization": (1, 2)}


class OnnxModule(nn.Module):
    """A float ONNX graph (see fold_to_float) as a torch module: forward(*inputs) -> tuple of outputs."""

    def __init__(self, model: onnx.ModelProto):
        super().__init__()
        graph = model.graph
        self.input_names = [i.name for i in graph.input]
        self.output_names = [o.name for o in graph.output]
        self.nodes = [(n.op_type, list(n.input), list(n.output), _attributes(n)) for n in graph.node]
        # after node i, the intermediate values no later node reads: dropped, so that a forward pass
        # holds only the live activations (holding all of them took 9.7 GB for a batch of 128 SFace crops)
        last_use = {name: i for i, (_, ins, _, _) in enumerate(self.nodes) for name in ins if name}
        finished: dict[int, list[str]] = {}
        for name, i in last_use.items():
            if name not in self.output_names:
                finished.setdefault(i, []).append(name)
        self._finished = [finished.get(i, []) for i in range(len(self.nodes))]
        weights = {n.input[i] for n in graph.node for i in _WEIGHT_INPUTS.get(n.op_type, ()) if i < len(n.input)}
        self._slots: dict[str, str] = {}
        self.weights = nn.ParameterDict()
        for k, init in enumerate(graph.initializer):
            array = numpy_helper.to_array(init)
            slot = f"t{k}"
            self._slots[init.name] = slot
            if init.name in weights:
                self.weights[slot] = nn.Parameter(torch.from_numpy(array.astype(np.float32).copy()))
            else:
                self.register_buffer(slot, torch.from_numpy(np.array(array)), persistent=True)

    def _constant(self, name: str) -> torch.Tensor:
        slot = self._slots[name]
        return self.weights[slot] if slot in self.weights else getattr(self, slot)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        values: dict[str, torch.Tensor] = dict(zip(self.input_names, inputs))
        get = lambda name: values[name] if name in values else self._constant(name)
        for (op, ins, outs, attrs), finished in zip(self.nodes, self._finished):
            args = [get(name) if name else None for name in ins]
            values[outs[0]] = _run(op, args, attrs)
            for name in finished:
                values.pop(name, None)
        return tuple(values[name] for name in self.output_names)


def _pads(attrs: dict, rank: int = 2) -> list[int]:
    pads = attrs.get("pads", [0] * 2 * rank)
    if pads[:rank] != pads[rank:]:
        raise NotImplementedError(f"asymmetric padding {pads}")
    return pads[:rank]


def _run(op: str, args: list, attrs: dict) -> torch.Tensor:
    x = args[0]
    if op == "Conv":
        return F.conv2d(
            x,
            args[1],
            args[2] if len(args) > 2 else None,
            attrs.get("strides", [1, 1]),
            _pads(attrs),
            attrs.get("dilations", [1, 1]),
            attrs.get("group", 1),
        )
    if op == "BatchNormalization":
        return F.batch_norm(
            x,
            args[3].to(args[1].dtype),
            args[4].to(args[1].dtype),
            args[1],
            args[2],
            False,
            0.0,
            attrs.get("epsilon", 1e-5),
        )
    if op == "PRelu":
        return torch.where(x >= 0, x, x * args[1].to(x.dtype))
    if op == "Relu":
        return F.relu(x)
    if op == "Sigmoid":
        return torch.sigmoid(x)
    if op == "MaxPool":
        return F.max_pool2d(
            x, attrs["kernel_shape"], attrs.get("strides"), _pads(attrs), ceil_mode=bool(attrs.get("ceil_mode", 0))
        )
    if op == "Resize":
        if attrs.get("mode", b"nearest") != b"nearest":
            raise NotImplementedError("Resize other than nearest")
        scales = [float(s) for s in args[2].tolist()[2:]]
        return F.interpolate(x, scale_factor=scales, mode="nearest")
    if op in ("Add", "Sub", "Mul"):
        other = args[1].to(x.dtype)
        return x + other if op == "Add" else x - other if op == "Sub" else x * other
    if op == "Transpose":
        return x.permute(*attrs["perm"])
    if op == "Reshape":
        target = [x.shape[i] if int(d) == 0 else int(d) for i, d in enumerate(args[1].tolist())]
        return x.reshape(target)
    if op == "Flatten":
        return torch.flatten(x, attrs.get("axis", 1))
    if op == "Gemm":
        weight = args[1].t() if attrs.get("transB", 0) else args[1]
        out = attrs.get("alpha", 1.0) * (x @ weight.to(x.dtype))
        return out + attrs.get("beta", 1.0) * args[2].to(x.dtype) if len(args) > 2 and args[2] is not None else out
    if op in ("Dropout", "Identity"):
        return x
    if op == "Concat":
        return torch.cat(args, dim=attrs["axis"])
    raise NotImplementedError(f"ONNX operator {op} is not supported by OnnxModule")
