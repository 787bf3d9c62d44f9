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


class NotPlainData(ValueError):
    """What the kernel sent is not the plain data `encode` writes; the text says why, in the grader's words."""


# Bounds on one decoded value, far above anything an honest notebook exports (its largest arrays hold
# tens of thousands of numbers), so that hostile data is refused before it costs time or memory.
MAX_ITEMS = 2_000_000  # list items, dict entries and layers
MAX_ELEMENTS = 50_000_000  # array elements
MAX_DIMENSIONS = 32
MAX_TEXT = 100_000  # characters of one string


def decode(data: Any) -> Any:
    """The value `encode` described, built from plain data only. Anything else raises NotPlainData, never
    another exception: the data may come from a hostile kernel."""
    try:
        return _Decoder().value(data, 0)
    except NotPlainData:
        raise
    # A check below missed a case: still a refusal (LookupError covers KeyError and IndexError, RuntimeError
    # covers RecursionError).
    except (ArithmeticError, AttributeError, LookupError, MemoryError, RuntimeError, TypeError, ValueError) as error:
        raise NotPlainData(f"malformed value ({type(error).__name__})") from error


class _Decoder:
    """One decoding: counts what it builds against the bounds above."""

    def __init__(self) -> None:
        self.items = 0
        self.elements = 0

    def _count(self, items: int = 0, elements: int = 0) -> None:
        self.items += items
        self.elements += elements
        if self.items > MAX_ITEMS:
            raise NotPlainData(f"more than {MAX_ITEMS} values")
        if self.elements > MAX_ELEMENTS:
            raise NotPlainData(f"arrays of more than {MAX_ELEMENTS} numbers")

    def value(self, data: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise NotPlainData(f"nested more than {MAX_DEPTH} levels deep")
        if data is None or type(data) in (bool, int, float):
            return data
        if type(data) is str:
            if len(data) > MAX_TEXT:
                raise NotPlainData(f"a string of more than {MAX_TEXT} characters")
            return data
        if type(data) is list:  # JSON arrays only come from the lists inside a marked value
            return self.items_of(data, depth)
        if type(data) is not dict or len(data) not in (1, 2):
            raise NotPlainData("malformed value")
        kind = next(iter(data))
        body = data[kind]
        if len(data) == 2 and (kind != "tensor" or set(data) != {"tensor", "requires_grad"}):
            raise NotPlainData("malformed value")
        if kind == "float":
            if body not in ("nan", "inf", "-inf"):
                raise NotPlainData("malformed number")
            return float(body)
        if kind == "tensor":
            tensor = torch.from_numpy(self.array(body))
            return tensor.requires_grad_(True) if data.get("requires_grad") is True and tensor.is_floating_point() else tensor
        if kind == "ndarray":
            return self.array(body)
        if kind == "scalar":
            array = self.array(body)
            if array.shape != ():
                raise NotPlainData("a scalar with a shape")
            return array[()]
        if kind == "sequential":
            return nn.Sequential(*[self.layer(layer) for layer in self.sequence(body)])
        if kind == "list":
            return self.items_of(self.sequence(body), depth + 1)
        if kind == "tuple":
            return tuple(self.items_of(self.sequence(body), depth + 1))
        if kind == "dict":
            if type(body) is not dict:
                raise NotPlainData("malformed dict")
            self._count(items=len(body))
            return {key: self.value(item, depth + 1) for key, item in body.items()}
        if kind in ("function", "opaque"):
            if type(body) is not str or len(body) > 200:
                raise NotPlainData(f"malformed {kind}")
            return KernelFunction(body) if kind == "function" else Opaque(body)
        raise NotPlainData(f"unknown kind {str(kind)[:40]!r}")

    def sequence(self, body: Any) -> list:
        if type(body) is not list:
            raise NotPlainData("malformed list")
        return body

    def items_of(self, items: list, depth: int) -> list:
        self._count(items=len(items))
        return [self.value(item, depth + 1) for item in items]

    def array(self, data: Any) -> np.ndarray:
        """An array from its dtype, shape and bytes: refused unless the bytes are exactly what the shape needs."""
        if type(data) is not dict or set(data) != {"dtype", "shape", "b64"}:
            raise NotPlainData("malformed array")
        dtype, shape, text = data["dtype"], data["shape"], data["b64"]
        if type(dtype) is not str or dtype not in DTYPES:
            raise NotPlainData(f"an array of type {str(dtype)[:40]!r}")
        if type(shape) is not list or len(shape) > MAX_DIMENSIONS or any(type(n) is not int or n < 0 for n in shape):
            raise NotPlainData("an array with a malformed shape")
        count = 1
        for n in shape:
            count *= n
        self._count(elements=count)
        itemsize = np.dtype(dtype).itemsize
        if type(text) is not str or len(text) != 4 * -(-count * itemsize // 3):
            raise NotPlainData(f"an array whose bytes do not match its shape {tuple(shape)}")
        raw = base64.b64decode(text, validate=True)
        if len(raw) != count * itemsize:
            raise NotPlainData(f"an array whose bytes do not match its shape {tuple(shape)}")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()

    def layer(self, data: Any) -> nn.Module:
        self._count(items=1)
        if type(data) is not dict:
            raise NotPlainData("malformed layer")
        if set(data) == {"layer"}:
            if data["layer"] not in LAYERS:
                raise NotPlainData(f"a layer of type {str(data['layer'])[:40]!r}")
            return LAYERS[data["layer"]]()
        if set(data) != {"linear", "weight", "bias"}:
            raise NotPlainData("malformed layer")
        sizes = data["linear"]
        if type(sizes) is not list or len(sizes) != 2 or any(type(n) is not int or n < 1 for n in sizes):
            raise NotPlainData("malformed layer")
        in_features, out_features = sizes
        # The weights first: their bytes bound the layer's size before anything is allocated for it.
        weight = self.parameter(data["weight"], (out_features, in_features))
        bias = None if data["bias"] is None else self.parameter(data["bias"], (out_features,))
        # skip_init: no random initialisation, so reading a network never moves the random state.
        layer = nn.utils.skip_init(nn.Linear, in_features, out_features, bias=bias is not None)
        with torch.no_grad():
            layer.weight.copy_(weight)
            if bias is not None:
                layer.bias.copy_(bias)
        return layer

    def parameter(self, data: Any, shape: tuple[int, ...]) -> torch.Tensor:
        values = self.value(data, 0)
        if not isinstance(values, torch.Tensor) or tuple(values.shape) != shape or not values.is_floating_point():
            raise NotPlainData(f"a layer's weights are not floats of shape {shape}")
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


def set_rng_state(state: Any) -> None:
    """Set the three global random generators to a state `rng_state` described; NotPlainData, and no
    generator changed, when it is not one."""
    try:
        torch_state = decode(state["torch"])
        kind, keys, position, has_gauss, cached = state["numpy"]
        version, internal, gauss_next = state["python"]
        numpy_state = (kind, decode(keys), position, has_gauss, cached)
        python_state = (version, tuple(internal), gauss_next)
        # Checked on throwaway generators first: a bad state then changes none of the global ones.
        torch.Generator().set_state(torch_state)
        np.random.RandomState().set_state(numpy_state)
        random.Random().setstate(python_state)
    except NotPlainData:
        raise
    except Exception as error:  # any malformed part: the generators' own checks raise many kinds
        raise NotPlainData(f"malformed random state ({type(error).__name__})") from error
    torch.set_rng_state(torch_state)
    np.random.set_state(numpy_state)
    random.setstate(python_state)


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
