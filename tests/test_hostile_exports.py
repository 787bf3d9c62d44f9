"""What a hostile kernel can send the grader, fuzzed: the decoder, the exchange and a test cell judged on forged
answers refuse what is not plain data with a reason, and never raise anything else, hang or allocate without bound."""
from __future__ import annotations

import base64
import json
import os
import random
import time

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from dvwcourse.checkspec import parse_test_cell
from dvwcourse.kernel import kernel_agent
from dvwcourse.kernel.exchange import Exchange
from dvwcourse.kernel.execution import read_answer
from dvwcourse.kernel.kernel_agent import NotPlainData, decode, encode
from dvwcourse.trusted_tests import CellJudge, StudentCodeError
from test_trusted_checks import KNOWN, LIBRARY

FUZZ = settings(max_examples=int(os.environ.get("DVW_FUZZ_EXAMPLES", 300)),  # bin/mutation runs fewer
                 deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
KINDS = ["float", "tensor", "ndarray", "scalar", "sequential", "list", "tuple", "dict", "function", "opaque", "linear", "layer",
         "requires_grad", "dtype", "shape", "b64", "weight", "bias"]

# JSON-like values, with the decoder's own vocabulary as keys so that many of them look almost right.
json_atoms = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.sampled_from(
    ["float32", "int64", "bool", "nan", "inf", "Tanh", "ReLU", "AAAA", "AAAAAA==", "object", "float128"])
json_values = st.recursive(
    json_atoms,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KINDS) | st.text(max_size=5), inner, max_size=3),
    max_leaves=30,
)


def plain(value):
    """A value the way it reaches the grader: encoded in the kernel, through JSON."""
    return json.loads(json.dumps(encode(value)))


def valid_encodings():
    """Encodings of values an honest kernel exports: every kind the decoder knows."""
    arrays = st.sampled_from(["float32", "float64", "int64", "int32", "uint8", "bool", "float16"]).flatmap(
        lambda dtype: st.lists(st.integers(0, 3), max_size=3).map(lambda shape: np.zeros(shape, dtype=dtype)))
    nets = st.lists(st.sampled_from(["linear", "tanh", "relu"]), min_size=1, max_size=3).map(
        lambda kinds: nn.Sequential(*[nn.Linear(2, 2, bias=k == "relu") if k != "tanh" else nn.Tanh() for k in kinds]))
    leaves = st.none() | st.booleans() | st.integers(-5, 5) | st.floats() | st.text(max_size=5) | arrays | arrays.map(torch.from_numpy) | nets
    values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
                          | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=10)
    return values.map(plain)


def mutate(data, rng: random.Random, replacement):
    """`data` with one node somewhere inside it replaced."""
    if isinstance(data, dict) and data and rng.random() < 0.7:
        key = rng.choice(sorted(data))
        return {**data, key: mutate(data[key], rng, replacement)}
    if isinstance(data, list) and data and rng.random() < 0.7:
        index = rng.randrange(len(data))
        return data[:index] + [mutate(data[index], rng, replacement)] + data[index + 1:]
    return replacement


def decodes_or_refuses(data) -> None:
    try:
        decode(data)
    except NotPlainData as error:
        assert str(error)  # a reason, in the grader's words


@FUZZ
@given(json_values)
def test_decode_answers_any_json_with_a_value_or_a_refusal_and_raises_nothing_else(data):
    decodes_or_refuses(data)


@FUZZ
@given(valid_encodings(), st.randoms(use_true_random=False), json_values)
def test_decode_answers_an_honest_encoding_with_any_part_replaced_with_a_value_or_a_refusal(data, rng, replacement):
    decode(data)  # unchanged, it decodes
    decodes_or_refuses(mutate(data, rng, replacement))


def without_flags(data):
    """`data` with its tensors' requires_grad flags left out: the decoder reads any flag but True as False, so a
    value put there is not a forgery it must refuse."""
    if isinstance(data, dict):
        return {key: without_flags(value) for key, value in data.items() if key != "requires_grad"}
    return [without_flags(item) for item in data] if isinstance(data, list) else data


@FUZZ
@given(valid_encodings(), st.randoms(use_true_random=False), json_values)
def test_decode_refuses_an_honest_encoding_with_an_unknown_kind_put_anywhere_in_it(data, rng, inside):
    """Wherever it lands (a value, a dict's entries, a shape, a dtype, a layer, a number's spelling), a list holding a
    marked value of a kind the decoder does not know is not plain data."""
    with pytest.raises(NotPlainData):
        decode(mutate(without_flags(data), rng, [{"\0unknown kind": inside}]))


@pytest.mark.parametrize("value", [
    np.arange(12, dtype=np.float32).reshape(3, 4), np.array([True, False]), np.float64(2.5), torch.ones(2, 3, dtype=torch.float64),
    [1, (2.0, "x"), {"k": None}], float("nan"), float("inf"), float("-inf"),
])
def test_honest_values_come_through_unchanged(value):
    back = decode(plain(value))
    assert type(back) is type(value)
    np.testing.assert_array_equal(np.asarray(back, dtype=object), np.asarray(value, dtype=object)) if not isinstance(value, float) \
        else np.testing.assert_equal(back, value)


def test_an_empty_array_and_a_layer_without_bias_come_through_unchanged():
    assert decode(plain(np.zeros((2, 0), dtype=np.float32))).shape == (2, 0)  # a dimension may be 0
    net = nn.Sequential(nn.Linear(2, 3, bias=False), nn.Tanh())
    back = decode(plain(net))
    assert [type(layer) for layer in back] == [nn.Linear, nn.Tanh] and back[0].bias is None
    assert torch.equal(back[0].weight, net[0].weight)


def array(dtype: str, shape: list, raw: bytes) -> dict:
    return {"ndarray": {"dtype": dtype, "shape": shape, "b64": base64.b64encode(raw).decode()}}


@pytest.mark.parametrize("data, reason", [
    (array("float32", [3], b"\0" * 8), "an array whose bytes do not match its shape (3,)"),  # too few bytes
    (array("float32", [1], b"\0" * 8), "an array whose bytes do not match its shape (1,)"),  # too many
    ({"ndarray": {"dtype": "uint8", "shape": [2], "b64": "AA=="}}, "an array whose bytes do not match its shape (2,)"),  # padding: 1 byte
    ({"ndarray": {"dtype": "uint8", "shape": [1], "b64": 5}}, "an array whose bytes do not match its shape (1,)"),  # not text
    (array("float32", [-1], b"\0" * 8), "an array with a malformed shape"),  # numpy would infer the size
    (array("float32", [2.0], b"\0" * 8), "an array with a malformed shape"),
    (array("float32", [10**6, 10**6, 10**6], b""), f"arrays of more than {kernel_agent.MAX_ELEMENTS} numbers"),  # refused before any allocation
    (array("object", [1], b"\0" * 8), "an array of type 'object'"),
    ({"ndarray": {"dtype": "uint8", "shape": [3], "b64": "!!!!"}}, "malformed value (Error)"),  # binascii.Error, caught by decode
    ({"scalar": array("float32", [2], b"\0" * 8)["ndarray"]}, "a scalar with a shape"),
    ({"float": "1e5"}, "malformed number"),
    ({"list": {"not": "a list"}}, "malformed list"),
    ({"dict": [1, 2]}, "malformed dict"),
    ({"sequential": [{"linear": [10**6, 10**6], "weight": plain(torch.zeros(1, 1)), "bias": None}]},
     "a layer's weights are not floats of shape (1000000, 1000000)"),
    ({"sequential": [{"linear": [1, 1], "weight": plain(torch.zeros(1, 1, dtype=torch.int64)), "bias": None}]},
     "a layer's weights are not floats of shape (1, 1)"),
    ({"sequential": [{"layer": "Dropout"}]}, "a layer of type 'Dropout'"),
    ({"function": ["a", "list"]}, "malformed function"),
    ({"tensor": plain(torch.zeros(1))["tensor"], "extra": 1}, "malformed value"),
    ({}, "malformed value"),
    ({"list": [], "tuple": [], "dict": {}}, "malformed value"),
    ({"list": [0] * (kernel_agent.MAX_ITEMS + 1)}, f"more than {kernel_agent.MAX_ITEMS} values"),
    pytest.param("x" * (kernel_agent.MAX_TEXT + 1), f"a string of more than {kernel_agent.MAX_TEXT} characters", id="a long string"),
])
def test_each_kind_of_forged_value_is_refused_with_exactly_its_reason(data, reason):
    with pytest.raises(NotPlainData) as refusal:
        decode(data)
    assert str(refusal.value) == reason


def nested_lists(depth: int) -> list:
    """A number inside `depth` lists: it sits `depth` levels deep."""
    value = 0
    for _ in range(depth):
        value = [value]
    return value


def test_values_nested_up_to_the_depth_bound_decode_and_one_level_more_is_refused():
    bound = kernel_agent.MAX_DEPTH
    # A marked list, tuple or dict is a level itself, as each JSON array is.
    assert decode(nested_lists(bound)) == nested_lists(bound)
    assert decode({"list": nested_lists(bound - 1)}) == nested_lists(bound - 1)
    assert decode({"tuple": nested_lists(bound - 1)}) == tuple(nested_lists(bound - 1))
    assert decode({"dict": {"k": nested_lists(bound - 1)}}) == {"k": nested_lists(bound - 1)}
    for deeper in (nested_lists(bound + 1), {"list": nested_lists(bound)}, {"tuple": nested_lists(bound)}, {"dict": {"k": nested_lists(bound)}}):
        with pytest.raises(NotPlainData) as refusal:
            decode(deeper)
        assert str(refusal.value) == f"nested more than {bound} levels deep"


def test_a_function_or_opaque_value_keeps_its_name_up_to_200_characters_and_an_unknown_kind_is_named_in_40():
    assert (decode({"function": "f" * 200}).name, decode({"opaque": "Gen"}).type_name) == ("f" * 200, "Gen")
    for data, reason in [({"function": "f" * 201}, "malformed function"), ({"k" * 50: 1}, f"unknown kind {'k' * 40!r}")]:
        with pytest.raises(NotPlainData) as refusal:
            decode(data)
        assert str(refusal.value) == reason


def test_a_string_up_to_the_length_bound_decodes():
    assert decode("x" * kernel_agent.MAX_TEXT) == "x" * kernel_agent.MAX_TEXT


def test_the_numbers_of_all_arrays_of_an_answer_count_toward_one_bound_and_arrays_are_no_values(monkeypatch):
    monkeypatch.setattr(kernel_agent, "MAX_ELEMENTS", 4)
    monkeypatch.setattr(kernel_agent, "MAX_ITEMS", 2)  # the two list items; arrays count only their numbers
    two, three = array("float32", [2], b"\0" * 8), array("float32", [3], b"\0" * 12)
    assert [a.tolist() for a in decode({"list": [two, two]})] == [[0.0, 0.0], [0.0, 0.0]]  # 4 numbers: exactly the bound
    with pytest.raises(NotPlainData) as refusal:
        decode({"list": [two, three]})
    assert str(refusal.value) == "arrays of more than 4 numbers"


def nested(depth: int) -> bytes:
    return b'{"values": {"x": ' + b"[" * depth + b"]" * depth + b'}, "rng": {}}'


@pytest.mark.parametrize("raw", [
    nested(10**5), nested(10**6), b"[" * 10**6, b'{"a": ' * 10**5, b"\xff\xfe\x00garbage", b"", b"nul\x00l", b"[1, 2]", b"NaN",
    b'{"values": {"x": 1' + b"0" * 5000 + b"}}",  # an integer longer than Python parses
])
def test_the_exchange_refuses_bytes_that_are_not_an_answer_without_any_other_exception(tmp_path, raw):
    exchange = Exchange(tmp_path / "exchange")
    (exchange.path / "r1.out.json").write_bytes(raw)
    with pytest.raises(StudentCodeError, match="not plain data"):
        read_answer(exchange, "r1")
    exchange.close()


def test_the_exchange_refuses_a_folder_or_a_pipe_named_like_an_answer_without_opening_it(tmp_path):
    exchange = Exchange(tmp_path / "exchange")
    (exchange.path / "r1.out.json").mkdir()
    os.mkfifo(exchange.path / "r2.out.json")
    for request in ("r1", "r2"):
        with pytest.raises(StudentCodeError, match="not a file of plain data"):
            exchange.read_answer(request)
    exchange.close()


def test_the_dict_entries_of_an_answer_count_toward_its_bound(monkeypatch):
    monkeypatch.setattr(kernel_agent, "MAX_ITEMS", 4)
    assert decode({"dict": {"a": 1, "b": {"dict": {"c": 2, "d": 3}}}}) == {"a": 1, "b": {"c": 2, "d": 3}}  # 4 entries
    with pytest.raises(NotPlainData, match="more than 4 values"):
        decode({"dict": {"a": 1, "b": {"dict": {"c": 2, "d": 3, "e": 4}}}})


@FUZZ
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_the_exchange_turns_any_bytes_into_an_answer_or_a_refusal(tmp_path_factory, raw):
    exchange = Exchange(tmp_path_factory.mktemp("ex") / "exchange")
    (exchange.path / "r1.out.json").write_bytes(raw)
    try:
        assert isinstance(read_answer(exchange, "r1"), dict)
    except StudentCodeError:
        pass
    exchange.close()


def test_a_forged_random_state_is_refused_and_moves_no_generator():
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    state = json.loads(json.dumps(kernel_agent.rng_state()))
    forged = [{**state, "torch": plain(torch.zeros(7, dtype=torch.uint8))},
              {**state, "numpy": ["MT19937", plain(np.zeros(3, dtype=np.uint32)), 0, 0, 0.0]},
              {**state, "python": [3, [1, 2], None]}, {**state, "numpy": 5}, [], None]
    for bad in forged:
        with pytest.raises(NotPlainData):
            kernel_agent.set_rng_state(bad)
    assert (torch.rand(1).item(), np.random.rand(), random.random()) == (
        torch.manual_seed(3) and torch.rand(1).item(), np.random.seed(3) or np.random.rand(), random.seed(3) or random.random())


def test_decoding_the_largest_answer_the_exchange_lets_through_stays_quick():
    """An answer of the exchange's maximal size made of many small items: refused or decoded in bounded time."""
    data = {"list": [[0.5] * 40] * 400_000}  # 16 million numbers: more items than the bound
    started = time.perf_counter()
    with pytest.raises(NotPlainData, match="more than"):
        decode(data)
    assert time.perf_counter() - started < 30  # generous: a safety net against a hang, not a benchmark


# -- a test cell judged on forged answers: never an exception out of the grader -------------------------------
class ForgingBridge:
    """A kernel whose agent answers every request with the same forged answer."""

    def __init__(self, answer) -> None:
        self.answer = answer

    def ask(self, method, *args, payload=None, seconds=None):
        return self.answer


SOURCE = ("require('double', 'net', 'value')\ncheck('double(2)', double(2), expect=4)\n### BEGIN HIDDEN TESTS\n"
          "check('net', net(torch.ones(1, 2)).sum().item(), expect=1.0)\ncheck('value', value, below=1.0)\n")


@FUZZ
@given(json_values | st.dictionaries(st.sampled_from(["values", "missing", "rng", "args", "value", "error"]), json_values, max_size=5))
def test_a_test_cell_judged_on_any_forged_answer_fails_with_a_reason_and_raises_nothing(answer):
    if not isinstance(answer, dict):
        answer = {"values": answer}
    cell = parse_test_cell("t", SOURCE, 2.0, KNOWN)
    verdict = CellJudge(LIBRARY, {"t": cell}, ForgingBridge(answer), grading_seed=0, env={}).run(cell)
    assert verdict.points == 0 and (verdict.error or not all(c.passed for c in verdict.checks))


@pytest.mark.parametrize("value, expect_fail", [(float("nan"), True), (float("inf"), True), (np.array([0.1, np.nan]), True),
                                                (torch.tensor(float("nan")), True), (0.5, False)])
def test_nan_or_infinity_where_a_number_is_expected_fails_its_check(value, expect_fail):
    answer = {"values": {"double": {"function": "double"}, "net": plain(nn.Sequential(nn.Linear(2, 1))), "value": plain(value)},
              "missing": [], "rng": json.loads(json.dumps(kernel_agent.rng_state()))}
    cell = parse_test_cell("t", "require('value')\ncheck('value', value, below=1.0)\n", 2.0, KNOWN)
    verdict = CellJudge(LIBRARY, {"t": cell}, ForgingBridge(answer), grading_seed=0, env={}).run(cell)
    assert (verdict.points == 0) is expect_fail, (verdict.error, [c.message for c in verdict.checks])


def deeply_nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("field", ["values", "missing", "rng", "args", "value", "error"])
@pytest.mark.parametrize("depth", [900, 20_000])  # as deep as JSON parses here, and deeper than any recursion goes
def test_a_deeply_nested_forged_answer_in_any_field_fails_the_cell_with_a_reason(field, depth):
    honest = {"values": {"double": {"function": "double"}}, "missing": [], "rng": json.loads(json.dumps(kernel_agent.rng_state())),
              "args": [None], "value": 4}
    forged = {**honest, field: deeply_nested(depth)} if field != "error" else {**honest, "error": ["ValueError", deeply_nested(depth)]}
    cell = parse_test_cell("t", "require('double')\ncheck('double(2)', double(2), expect=4)\n", 2.0, KNOWN)
    verdict = CellJudge(LIBRARY, {"t": cell}, ForgingBridge(forged), grading_seed=0, env={}).run(cell)
    assert verdict.points == 0 and verdict.error


def test_a_request_is_a_new_file_the_kernel_can_read_but_not_change_and_finish_removes_both_files(tmp_path):
    exchange = Exchange(tmp_path / "exchange")
    exchange.write_request("r1", '{"args": ["é"]}')
    request = exchange.path / "r1.in.json"
    assert request.stat().st_mode & 0o777 == 0o644 and request.read_text(encoding="utf-8") == '{"args": ["é"]}'
    with pytest.raises(StudentCodeError, match="^the grader could not hand its inputs to the kernel$"):
        exchange.write_request("r1", "{}")  # a file already there (the kernel's, say) is never written through
    (exchange.path / "r1.out.json").write_text("{}")
    exchange.finish("r1")
    exchange.finish("r1")  # nothing left: still fine
    assert list(exchange.path.iterdir()) == []
    exchange.close()


TENSOR = plain(torch.zeros(1, 1))


@pytest.mark.parametrize("data, reason", [
    ({"ndarray": 5}, "malformed array"),
    ({"ndarray": {"dtype": "float32", "shape": [1]}}, "malformed array"),
    (array("x" * 50, [1], b"\0" * 4), f"an array of type {'x' * 40!r}"),
    (array("float32", [1] * (kernel_agent.MAX_DIMENSIONS + 1), b"\0" * 4), "an array with a malformed shape"),
    ({"sequential": [5]}, "malformed layer"),
    ({"sequential": [{"layer": "L" * 50}]}, f"a layer of type {'L' * 40!r}"),
    ({"sequential": [{"linear": [1, 1], "weight": TENSOR, "bias": None, "extra": 1}]}, "malformed layer"),
    ({"sequential": [{"linear": [1], "weight": TENSOR, "bias": None}]}, "malformed layer"),
    ({"sequential": [{"linear": [0, 1], "weight": TENSOR, "bias": None}]}, "malformed layer"),
    ({"sequential": [{"linear": [1.0, 1], "weight": TENSOR, "bias": None}]}, "malformed layer"),
    ({"sequential": {"linear": [1, 1]}}, "malformed list"),
])
def test_each_malformed_array_and_layer_is_refused_with_exactly_its_reason(data, reason):
    with pytest.raises(NotPlainData) as refusal:
        decode(data)
    assert str(refusal.value) == reason


def test_an_array_may_have_up_to_the_bound_of_dimensions_and_each_layer_counts_as_a_value(monkeypatch):
    assert decode(array("float32", [1] * kernel_agent.MAX_DIMENSIONS, b"\0" * 4)).shape == (1,) * kernel_agent.MAX_DIMENSIONS
    monkeypatch.setattr(kernel_agent, "MAX_ITEMS", 2)
    assert len(decode({"sequential": [{"layer": "Tanh"}, {"layer": "ReLU"}]})) == 2
    with pytest.raises(NotPlainData, match="more than 2 values"):
        decode({"sequential": [{"layer": "Tanh"}, {"layer": "ReLU"}, {"layer": "Tanh"}]})
