"""An ONNX graph of the model registry (folded to float32 by onnx_fold) run as a torch module whose
weights are parameters (so the same network infers on CPU or CUDA and can be fine-tuned).

Written here rather than taken from onnx2torch because onnx2torch imports torchvision, whose
wheels do not import beside the CPU build of torch this project installs; the default models use
only the dozen operators below.
"""

from __future__ import annotations

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper
from torch import nn


def _attributes(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


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
