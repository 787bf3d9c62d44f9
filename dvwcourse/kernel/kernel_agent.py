"""Plain data between a student's kernel and the grader, and the agent that answers in the kernel.

This one file serves both sides. The grader sends its source to the grading kernel, where the
`Agent` answers requests: the values of names, the random state, and the result of calling one of
the student's functions on inputs the grader chose. Requests and answers are JSON files in an
exchange folder (large arrays travel far faster as files than as code). Answers are plain data only
(numbers, strings and base64-encoded arrays); the grader decodes them with `decode`, which builds
nothing but numbers, lists, NumPy arrays, tensors and `nn.Sequential` networks of allow-listed
layers. No verdict, no expected value and no check name is ever sent to the kernel.

It imports only what a grading kernel has (NumPy, torch, the standard library).
"""
from __future__ import annotations

import base64
import json
import os
import random
from typing import Any

import numpy as np
import torch
from torch import nn

DTYPES = {
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32", "float64",
}
LAYERS = {"Tanh": nn.Tanh, "ReLU": nn.ReLU, "Identity": nn.Identity}
MAX_DEPTH = 20


class Opaque:
    """A value the kernel had but that is not plain data (an object of its own class, a generator, ...)."""

    def __init__(self, type_name):
        self.type_name = str(type_name)[:80]

    def __repr__(self):
        return f"<{self.type_name}: not plain data>"


class KernelFunction:
    """A function that lives in the kernel. The grader replaces it by a proxy that calls the kernel."""

    def __init__(self, name):
        self.name = str(name)

    def __repr__(self):
        return f"<function {self.name} in the kernel>"


def _array_bytes(array):
    return {"dtype": array.dtype.name, "shape": list(array.shape),
            "b64": base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")}


def _array_from(data):
    dtype = str(data["dtype"])
    if dtype not in DTYPES:
        raise ValueError(f"array of type {dtype!r}")
    shape = [int(n) for n in data["shape"]]
    return np.frombuffer(base64.b64decode(data["b64"]), dtype=dtype).reshape(shape).copy()


def encode(value: Any, depth: int = 0) -> Any:
    """`value` as JSON-able plain data; anything else becomes a marked opaque value."""
    if depth > MAX_DEPTH:
        return {"opaque": "nesting too deep"}
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if np.isfinite(value) else {"float": repr(value)}
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bfloat16 or value.is_complex():
            return {"opaque": f"tensor of {value.dtype}"}
        return {"tensor": _array_bytes(value.detach().cpu().numpy()), "requires_grad": bool(value.requires_grad)}
    if isinstance(value, np.ndarray):
        if value.dtype.name not in DTYPES:
            return {"opaque": f"array of {value.dtype}"}
        return {"ndarray": _array_bytes(value)}
    if isinstance(value, np.generic) and value.dtype.name in DTYPES:
        return {"scalar": _array_bytes(np.asarray(value))}
    if isinstance(value, nn.Sequential) and all(isinstance(m, nn.Linear) or type(m).__name__ in LAYERS for m in value):
        return {"sequential": [_encode_layer(m) for m in value]}
    if type(value) in (list, tuple):
        return {type(value).__name__: [encode(item, depth + 1) for item in value]}
    if type(value) is dict and all(type(k) is str for k in value):
        return {"dict": {k: encode(v, depth + 1) for k, v in value.items()}}
    if callable(value) and type(value).__name__ == "function":
        return {"function": getattr(value, "__name__", "?")}
    return {"opaque": type(value).__name__}


def _encode_layer(module):
    if isinstance(module, nn.Linear):
        return {"linear": [int(module.in_features), int(module.out_features)], "weight": encode(module.weight),
                "bias": None if module.bias is None else encode(module.bias)}
    return {"layer": type(module).__name__}


def decode(data: Any, depth: int = 0) -> Any:
    """The value `encode` described, built from plain data only."""
    if depth > MAX_DEPTH:
        raise ValueError("nesting too deep")
    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is list:  # JSON arrays only come from the lists inside a marked value
        return [decode(item, depth + 1) for item in data]
    if type(data) is not dict or len(data) not in (1, 2):
        raise ValueError("malformed value")
    kind = next(iter(data))
    if kind == "float":
        return float({"nan": "nan", "inf": "inf", "-inf": "-inf"}[data["float"]])
    if kind == "tensor":
        tensor = torch.from_numpy(_array_from(data["tensor"]))
        return tensor.requires_grad_(True) if data.get("requires_grad") is True and tensor.is_floating_point() else tensor
    if kind == "ndarray":
        return _array_from(data["ndarray"])
    if kind == "scalar":
        return _array_from(data["scalar"])[()]
    if kind == "sequential":
        return nn.Sequential(*[_decode_layer(layer) for layer in data["sequential"]])
    if kind == "list":
        return [decode(item, depth + 1) for item in data["list"]]
    if kind == "tuple":
        return tuple(decode(item, depth + 1) for item in data["tuple"])
    if kind == "dict":
        return {str(k): decode(v, depth + 1) for k, v in data["dict"].items()}
    if kind == "function":
        return KernelFunction(data["function"])
    if kind == "opaque":
        return Opaque(data["opaque"])
    raise ValueError(f"unknown kind {kind!r}")


def _decode_layer(data):
    if "layer" in data:
        return LAYERS[data["layer"]]()
    n_in, n_out = (int(n) for n in data["linear"])
    # skip_init: no random initialisation, so reading a network never moves the random state.
    layer = nn.utils.skip_init(nn.Linear, n_in, n_out, bias=data["bias"] is not None)
    with torch.no_grad():
        layer.weight.copy_(_parameter(data["weight"], (n_out, n_in)))
        if layer.bias is not None:
            layer.bias.copy_(_parameter(data["bias"], (n_out,)))
    return layer


def _parameter(data, shape):
    values = decode(data)
    if not isinstance(values, torch.Tensor) or tuple(values.shape) != shape:
        raise ValueError(f"a layer's weights do not have shape {shape}")
    return values


def copy_weights(target: nn.Module, source: nn.Module) -> None:
    """Load the weights of network `source` into network `target` (same layers) in place."""
    with torch.no_grad():
        for mine, theirs in zip(target.parameters(), source.parameters()):
            if mine.shape == theirs.shape:
                mine.copy_(theirs)


def rng_state() -> dict[str, Any]:
    """The states of torch's, NumPy's and Python's global random generators, as plain data."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": encode(torch.get_rng_state()),
        "numpy": [kind, encode(keys), int(position), int(has_gauss), float(cached)],
        "python": [version, list(internal), gauss_next],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Set the three global random generators to a state `rng_state` described."""
    torch.set_rng_state(decode(state["torch"]))
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, decode(keys), position, has_gauss, cached))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


class Agent:
    """Runs in the grading kernel: answers the grader's requests about the student's namespace."""

    def __init__(self, namespace: dict[str, Any], folder: str) -> None:
        self.namespace = namespace
        self.folder = folder  # the exchange folder: requests in, answers out

    def _request(self, request_id: str) -> dict[str, Any]:
        with open(os.path.join(self.folder, f"{request_id}.in.json"), encoding="utf-8") as handle:
            return json.load(handle)

    def _respond(self, request_id: str, answer: dict[str, Any]) -> None:
        path = os.path.join(self.folder, f"{request_id}.out.json")
        with open(path + ".part", "w", encoding="utf-8") as handle:
            json.dump(answer, handle)
        os.replace(path + ".part", path)

    def values(self, request_id: str, names: list[str]) -> None:
        """The value of each name, or that it is missing, and the random state."""
        found = {name: encode(self.namespace[name]) for name in names if name in self.namespace}
        missing = [name for name in names if name not in self.namespace]
        self._respond(request_id, {"values": found, "missing": missing, "rng": rng_state()})

    def call(self, request_id: str, name: str) -> None:
        """Call the student's function `name` with the grader's inputs and random state."""
        request = self._request(request_id)
        function = self.namespace.get(name)
        if not callable(function):
            self._respond(request_id, {"missing": [name]})
            return
        args = [decode(a) for a in request["args"]]
        kwargs = {k: decode(v) for k, v in request["kwargs"].items()}
        set_rng_state(request["rng"])  # after decoding: nothing may draw between this and the call
        answer = {}
        try:
            answer["value"] = encode(function(*args, **kwargs))
        except BaseException as error:  # the student's code failed: say how, the grader decides what it costs
            answer["error"] = [type(error).__name__, str(error)[:300]]
        # Networks and arrays the function may have changed in place go back to the grader.
        answer["args"] = [encode(a) if isinstance(a, (nn.Module, torch.Tensor, np.ndarray)) else None for a in args]
        answer["rng"] = rng_state()
        self._respond(request_id, answer)


def start_agent(folder: str) -> None:
    """Make `__dvw_agent__` in the kernel's user namespace (run by the grader before any cell)."""
    from IPython import get_ipython

    shell = get_ipython()
    shell.user_ns["__dvw_agent__"] = Agent(shell.user_ns, folder)
