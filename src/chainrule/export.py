"""Export a network as a standard ONNX graph (``pip install chainrule[onnx]``).

A :class:`~chainrule.layers.Standardize` first layer becomes ``Sub(input, mean)`` followed by
``Mul(., 1 / std)`` (initializers ``standardize.mean`` and ``standardize.inv_std``, in the
network's dtype, the layer's own ``inv_std``), so the graph takes the raw
inputs, as the network does. Each Dense layer becomes a ``Gemm`` node (``Y = X . W + b``, the
layer's own weights as initializers) followed by its activation node (``Sigmoid``, ``Tanh``,
``Relu``, ``LeakyRelu``, ``Softmax`` over axis 1, ``Identity``). In a float64 network, leaky
ReLU is ``Max(net, Mul(net, slope))`` instead, since onnxruntime has no float64 ``LeakyRelu`` at
opset 13. Dropout is the identity at inference and is left out. The graph takes ``input`` of
shape (batch, n_in) and gives ``output`` of shape (batch, n_out): the same numbers as
:meth:`chainrule.Network.forward`.
"""

from __future__ import annotations

import os

import numpy as np

from chainrule._atomic import atomic_write_bytes
from chainrule.backend import to_numpy
from chainrule.layers import Dense, Standardize
from chainrule.network import Network

__all__ = ["to_onnx", "export_onnx"]

OPSET = 13


def _onnx():
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "ONNX export needs the onnx package: pip install 'chainrule[onnx]'"
        ) from exc
    return onnx


def to_onnx(net: Network, name: str = "chainrule", metadata: dict[str, str] | None = None):
    """The network as an ``onnx.ModelProto`` (opset 13), checked by ``onnx.checker``."""
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    elem = TensorProto.FLOAT if net.dtype == np.float32 else TensorProto.DOUBLE
    nodes, initializers = [], []
    current = "input"
    first = net.layers[0]
    if isinstance(first, Standardize):  # (x - mean) * (1 / std), as the layer computes it
        mean = np.asarray(to_numpy(first.mean), dtype=net.dtype)
        inv_std = np.asarray(to_numpy(first.inv_std), dtype=net.dtype)
        initializers += [
            numpy_helper.from_array(np.ascontiguousarray(mean), "standardize.mean"),
            numpy_helper.from_array(np.ascontiguousarray(inv_std), "standardize.inv_std"),
        ]
        nodes += [
            helper.make_node("Sub", [current, "standardize.mean"], ["centred"], name="sub_mean"),
            helper.make_node(
                "Mul", ["centred", "standardize.inv_std"], ["standardized"], name="mul_inv_std"
            ),
        ]
        current = "standardized"
    dense = [layer for layer in net.layers if isinstance(layer, Dense)]
    for i, layer in enumerate(dense):
        w, b = f"layers.{i}.weights", f"layers.{i}.biases"
        for array, label in ((layer.weights, w), (layer.biases, b)):  # to the host if on a GPU
            initializers.append(
                numpy_helper.from_array(np.ascontiguousarray(to_numpy(array)), label)
            )
        net_name = f"net_{i}"
        nodes.append(helper.make_node("Gemm", [current, w, b], [net_name], name=f"gemm_{i}"))
        act = layer.activation
        last = i == len(dense) - 1
        out_name = "output" if last else f"out_{i}"
        op = {
            "sigmoid": ("Sigmoid", {}),
            "tanh": ("Tanh", {}),
            "relu": ("Relu", {}),
            "leaky_relu": ("LeakyRelu", {"alpha": getattr(act, "slope", 0.01)}),
            "softmax": ("Softmax", {"axis": 1}),
            "identity": ("Identity", {}),
        }.get(act.name)
        if op is None:
            raise ValueError(f"activation {act.name!r} has no ONNX export")
        if op[0] == "LeakyRelu" and elem == TensorProto.DOUBLE:
            # onnxruntime has no float64 LeakyRelu before opset 16: max(net, slope * net),
            # the same for 0 <= slope < 1
            slope = f"layers.{i}.slope"
            initializers.append(numpy_helper.from_array(np.array(op[1]["alpha"]), slope))
            scaled = f"scaled_{i}"
            nodes.append(helper.make_node("Mul", [net_name, slope], [scaled], name=f"mul_{i}"))
            nodes.append(helper.make_node("Max", [net_name, scaled], [out_name], name=f"act_{i}"))
        else:
            nodes.append(helper.make_node(op[0], [net_name], [out_name], name=f"act_{i}", **op[1]))
        current = out_name
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("input", elem, ["batch", net.n_in])],
        [helper.make_tensor_value_info("output", elem, ["batch", net.n_out])],
        initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="chainrule",
    )
    model.ir_version = min(model.ir_version, 8)
    if metadata:  # the model's metadata_props: strings a reader can look up by key
        helper.set_model_props(model, {str(k): str(v) for k, v in metadata.items()})
    onnx.checker.check_model(model)
    return model


def export_onnx(
    net: Network, path: str | os.PathLike, metadata: dict[str, str] | None = None
) -> None:
    """Write :func:`to_onnx` of ``net`` (with ``metadata`` as the model's metadata_props) to
    ``path`` atomically."""
    atomic_write_bytes(path, to_onnx(net, metadata=metadata).SerializeToString())
