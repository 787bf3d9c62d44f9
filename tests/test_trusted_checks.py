"""The grader's side of test cells, without a kernel: the contract of a test cell, plain data between
kernel and grader, the exchange folder, and test cells judged on what an in-process agent exports."""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from torch import nn

from dvwcourse.kernel import kernel_agent
from dvwcourse.assemble import Answers, assemble
from dvwcourse.checkspec import parse_test_cell
from dvwcourse.kernel.exchange import Exchange
from dvwcourse.judge import message_for
from dvwcourse.settings import CourseError
from dvwcourse.trusted_tests import StudentCodeError, CellJudge, decode_answer, exception_name, part

LIBRARY = [
    "import numpy as np\nimport torch\nfrom torch import nn\n",
    "def compare(value, expected=None, rtol=1e-7, atol=0.0, below=None, above=None):\n"
    "    if below is not None:\n        return None if value < below else f'got {value}'\n"
    "    return None if np.allclose(value, expected, rtol=rtol, atol=atol) else f'got {value!r}, expected {expected!r}'\n"
    "def as_plain(value):\n"
    "    if isinstance(value, torch.Tensor):\n        value = value.detach().numpy()\n"
    "    return value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value\n",
]
KNOWN = {"np", "torch", "nn", "compare", "as_plain", "check", "require", "note_difference", "grading_rng"}


# -- the contract of a test cell ------------------------------------------------------------------
@pytest.mark.parametrize("source, complaint", [
    ("check('x', answer, expect=1)", "reads answer without listing"),
    ("require('answer')\n### BEGIN HIDDEN TESTS\nrequire('other')\ncheck('x', answer, expect=1)", "visible part"),
    ("name = 'answer'\nrequire(name)\ncheck('x', 1, expect=1)", "string literals"),
    ("require('answer')\ncheck('x', answer)", "needs expect="),
    ("require('answer')\ncheck('x', answer, expect=1, tol=2)", "takes a name and a value"),
    ("require('answer')\ncheck('x', answer, expect=1, msg=f'{answer}')", "msg= must be a string literal"),
    ("require('answer')\nprint(answer)", r"calls check\(\) nowhere"),
    ("require('np')\ncheck('x', np, expect=1)", "define themselves"),
    ("check('x', (", "test cell t"),
])
def test_a_test_cell_that_breaks_the_contract_is_refused_with_its_reason(source, complaint):
    with pytest.raises(CourseError, match=complaint):
        parse_test_cell("t", source, 1.0, KNOWN)


def test_a_test_cell_lists_what_it_reads_and_knows_which_checks_are_hidden():
    source = ("require('f', 'x')\ncheck('visible', f(1),\n      expect=2)\n### BEGIN HIDDEN TESTS\n"
              "for k in range(3):\n    check('hidden', f(k) + x, expect=1, msg='hidden message')\n")
    cell = parse_test_cell("t", source, 2.0, KNOWN)
    assert cell.required == {"f", "x"} and cell.assigned == {"k"}
    assert not cell.site_at(3).hidden and cell.site_at(3).line == 2  # the second line of a two-line call
    assert cell.site_at(6).hidden and cell.site_at(6).msg == "hidden message"


# -- plain data between kernel and grader ---------------------------------------------------------
def roundtrip(value):
    return kernel_agent.decode(json.loads(json.dumps(kernel_agent.encode(value))))


def test_plain_data_keeps_types_shapes_and_values():
    assert roundtrip([1, 2.5, True, None, "text", (3, 4), {"k": float("nan")}])[:5] == [1, 2.5, True, None, "text"]
    assert roundtrip((3, 4)) == (3, 4) and np.isnan(roundtrip({"k": float("nan")})["k"])
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    back = roundtrip(array)
    assert back.dtype == np.float32 and back.shape == (2, 3) and np.array_equal(back, array)
    assert type(roundtrip(np.float64(0.25))) is np.float64
    tensor = roundtrip(torch.ones(3, 1, requires_grad=True) * 2)
    assert isinstance(tensor, torch.Tensor) and tensor.requires_grad and tensor.tolist() == [[2.0]] * 3
    net = nn.Sequential(nn.Linear(3, 4, bias=False), nn.Tanh(), nn.Linear(4, 1))
    copy = roundtrip(net)
    x = torch.randn(5, 3)
    assert torch.equal(copy(x), net(x))


def test_what_is_not_plain_data_stays_a_marked_opaque_value():
    class Anything:
        def __eq__(self, other):
            return True

    assert isinstance(roundtrip(Anything()), kernel_agent.Opaque)
    assert isinstance(roundtrip(np.array([object()])), kernel_agent.Opaque)
    assert isinstance(roundtrip(lambda: 1), kernel_agent.KernelFunction)


@pytest.mark.parametrize("data", [
    {"ndarray": {"dtype": "object", "shape": [1], "b64": ""}},
    {"ndarray": {"dtype": "float64", "shape": [3], "b64": "AAAAAAAAAAA="}},  # 8 bytes for 3 numbers
    {"sequential": [{"layer": "Dropout"}]},
    {"sequential": [{"linear": [2, 2], "weight": {"tensor": kernel_agent._array_bytes(np.zeros((3, 3), np.float32))}, "bias": None}]},
    {"pickle": "gASVAAAAAAAAAA=="},
])
def test_decoding_refuses_anything_but_plain_data(data):
    with pytest.raises((ValueError, KeyError)):
        kernel_agent.decode(data)


def test_reading_a_network_does_not_move_the_random_state():
    net_data = json.loads(json.dumps(kernel_agent.encode(nn.Sequential(nn.Linear(4, 4), nn.Tanh()))))
    torch.manual_seed(5)
    kernel_agent.decode(net_data)
    after_decoding = torch.rand(1)
    torch.manual_seed(5)
    assert torch.equal(after_decoding, torch.rand(1))


def test_the_random_state_travels_as_plain_data():
    torch.manual_seed(1), np.random.seed(1)
    state = json.loads(json.dumps(kernel_agent.rng_state()))
    first = (torch.rand(2), np.random.rand(2))
    torch.manual_seed(99), np.random.seed(99)
    kernel_agent.set_rng_state(state)
    again = (torch.rand(2), np.random.rand(2))
    assert torch.equal(first[0], again[0]) and np.array_equal(first[1], again[1])


# -- the exchange folder --------------------------------------------------------------------------
def test_the_exchange_never_follows_a_symlink_nor_reads_an_oversized_answer(tmp_path, monkeypatch):
    exchange = Exchange(tmp_path / "exchange")
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    os.symlink(outside, exchange.path / "r1.out.json")
    with pytest.raises(StudentCodeError, match="^the kernel's answer could not be read$"):
        exchange.read_answer("r1")
    os.symlink(tmp_path / "created-by-grader", exchange.path / "r2.in.json")
    with pytest.raises(StudentCodeError):
        exchange.write_request("r2", "{}")
    assert not (tmp_path / "created-by-grader").exists()
    monkeypatch.setattr("dvwcourse.kernel.exchange.MAX_ANSWER_BYTES", 10)
    (exchange.path / "r3.out.json").write_text("[" + "1," * 20 + "1]")
    with pytest.raises(StudentCodeError, match="^the kernel's answer was not a file of plain data of a sane size$"):
        exchange.read_answer("r3")
    (exchange.path / "r3.out.json").write_text("[1,2,3,45]")  # exactly the bound: read whole
    assert exchange.read_answer("r3") == b"[1,2,3,45]"
    assert exchange.read_answer("r4") is None
    exchange.close()


def test_an_answer_that_grows_after_its_size_was_checked_is_read_only_one_byte_past_the_bound(tmp_path, monkeypatch):
    exchange = Exchange(tmp_path / "exchange")
    monkeypatch.setattr("dvwcourse.kernel.exchange.MAX_ANSWER_BYTES", 10)
    answer = exchange.path / "r1.out.json"
    answer.write_bytes(b"[1]")
    checked = os.fstat

    def check_then_grow(fd: int) -> os.stat_result:  # the kernel appends between the grader's check and its read
        info = checked(fd)
        answer.write_bytes(b"[1]" + b" " * 100)
        return info

    monkeypatch.setattr(os, "fstat", check_then_grow)
    assert exchange.read_answer("r1") == b"[1]" + b" " * 8  # 11 bytes: too long to be an answer, and no more is read
    exchange.close()


def test_the_exchange_folder_may_exist_is_open_to_the_kernels_user_and_is_never_a_symlink(tmp_path):
    (tmp_path / "mounted").mkdir()  # a bounded mount is made before
    exchange = Exchange(tmp_path / "mounted")
    assert oct(os.stat(exchange.path).st_mode & 0o7777) == oct(0o1777)
    exchange.close()
    os.symlink(tmp_path / "mounted", tmp_path / "link")
    with pytest.raises(OSError) as refused:
        Exchange(tmp_path / "link")
    assert refused.value.errno == errno.ENOTDIR  # opened as a folder, not followed: a symlink is no folder


def test_an_exchange_that_cannot_be_cleared_says_so(tmp_path):
    exchange = Exchange(tmp_path / "exchange")
    (exchange.path / "r1.out.json").mkdir()  # the kernel's user can make a folder where its answer goes
    with pytest.raises(StudentCodeError, match="^the grader could not clear its exchange folder$"):
        exchange.finish("r1")
    exchange.close()


def test_the_exchange_works_through_its_descriptor_when_its_path_is_swapped(tmp_path):
    exchange = Exchange(tmp_path / "exchange")
    exchange.path.rename(tmp_path / "moved")
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", exchange.path)
    exchange.write_request("r1", "{}")
    assert (tmp_path / "moved" / "r1.in.json").exists() and not (tmp_path / "elsewhere" / "r1.in.json").exists()
    exchange.close()


# -- what a student may read ----------------------------------------------------------------------
def test_messages_never_quote_hidden_expectations_nor_kernel_text():
    from dvwcourse.checkspec import CheckSite

    hidden = CheckSite(0, 5, 5, True, "check(...)", "The count is wrong.")
    visible = CheckSite(1, 2, 2, False, "check(...)", "Use 33.")
    assert message_for(hidden, "got 5, expected 33") == "The count is wrong."
    assert message_for(visible, "got 5, expected 33", 5) == "Use 33. (got 5, expected 33)"
    assert "secret" not in message_for(visible, "got 'secret', expected 33", "secret")
    assert exception_name(["ValueError", "secret"]) == "ValueError"
    assert exception_name(["LEAKED_3_7_4", "secret"]) == "an exception"


def test_answers_are_found_by_grade_id_whatever_the_cell_ids():
    def cell(cell_id, grade_id, source, solution=True):
        return nbformat.v4.new_code_cell(source, id=cell_id, metadata={"nbgrader": {"grade_id": grade_id, "solution": solution}})

    master = nbformat.v4.new_notebook(cells=[cell("a1", "answer", "solution"), cell("t1", "test", "tests", False)])
    release = nbformat.v4.new_notebook(cells=[cell("b2", "answer", "stub"), cell("u2", "test", "tests", False)])
    assert [c.source for c in assemble(master, release, Answers({"answer": "mine"})).cells] == ["mine", "tests"]
    assert [c.source for c in assemble(master, release, Answers()).cells] == ["stub", "tests"]


# -- test cells judged on what an agent exports (the agent runs in this process here) ----------------
class InProcessBridge:
    """The kernel's side, in this process: the real Agent answering through a real exchange folder."""

    def __init__(self, folder: Path, namespace: dict) -> None:
        self.exchange = Exchange(folder / "exchange")
        self.agent = kernel_agent.Agent(namespace, str(self.exchange.path))
        self.count = 0

    def ask(self, method, *args, payload=None, seconds=None):
        self.count += 1
        request_id = f"r{self.count}"
        if payload is not None:
            self.exchange.write_request(request_id, payload)
        getattr(self.agent, method)(request_id, *args)
        return json.loads(self.exchange.read_answer(request_id))


def judge(tmp_path, student_namespace, source, known=KNOWN):
    cell = parse_test_cell("t", source, 2.0, known)
    runner = CellJudge(LIBRARY, {"t": cell}, InProcessBridge(tmp_path, student_namespace), grading_seed=0, env={})
    return runner.run(cell)


def test_a_correct_answer_earns_the_points_and_every_check_is_recorded(tmp_path):
    source = ("require('double', 'net')\ncheck('double(2)', double(2), expect=4)\n### BEGIN HIDDEN TESTS\n"
              "check('net output', net(torch.ones(1, 3)).item(), expect=3.0)\n")
    net = nn.Sequential(nn.Linear(3, 1, bias=False))
    nn.init.ones_(net[0].weight)
    verdict = judge(tmp_path, {"double": lambda x: 2 * x, "net": net}, source)
    assert verdict.points == 2.0 and [c.passed for c in verdict.checks] == [True, True] and verdict.checks[1].hidden


def test_a_wrong_answer_fails_its_check_and_says_why_without_hidden_values(tmp_path):
    source = "require('double')\n### BEGIN HIDDEN TESTS\ncheck('double(21)', double(21), expect=42, msg='Multiply by two.')\n"
    verdict = judge(tmp_path, {"double": lambda x: x + 2}, source)
    assert verdict.points == 0 and verdict.checks[0].message == "Multiply by two."


def test_a_missing_name_stops_the_cell_with_a_message_naming_it(tmp_path):
    verdict = judge(tmp_path, {}, "require('answer')\ncheck('answer', answer, expect=1)")
    assert verdict.points == 0 and verdict.error.startswith("not defined: answer")


def test_a_student_function_changes_the_graders_network_in_place_and_draws_from_the_graders_seed(tmp_path):
    def fill(net):
        with torch.no_grad():
            for param in net.parameters():
                param.normal_()

    source = ("require('fill')\nnet = nn.Sequential(nn.Linear(2, 2, bias=False))\ntorch.manual_seed(7)\nfill(net)\n"
              "torch.manual_seed(7)\ncheck('first weight', net[0].weight[0, 0].item(), expect=torch.randn(1).item())")
    verdict = judge(tmp_path, {"fill": fill}, source)
    assert verdict.points == 2.0, [c.message for c in verdict.checks]


def test_an_error_in_the_students_function_shows_its_type_only(tmp_path):
    def boom(x):
        raise KeyError("hidden input 1234")

    verdict = judge(tmp_path, {"boom": boom}, "require('boom')\ncheck('boom', boom(1234), expect=1)")
    assert verdict.points == 0 and verdict.error == "calling your `boom` raised KeyError" and "1234" not in verdict.error


def test_values_that_are_not_plain_data_earn_nothing_even_when_their_number_is_right(tmp_path):
    """A float subclass is not a float: refused as it is, not read as the number it holds (here the expected one).
    (Its comparisons are the attack; __eq__ is left alone, since JSON would write a float equal to anything as inf.)"""
    class AlwaysInRange(float):
        def __lt__(self, other):
            return True

        def __gt__(self, other):
            return True

    verdict = judge(tmp_path, {"answer": AlwaysInRange(1)}, "require('answer')\ncheck('answer', answer, expect=1)")
    assert verdict.points == 0
    (tmp_path / "plain").mkdir()
    assert judge(tmp_path / "plain", {"answer": 1.0}, "require('answer')\ncheck('answer', answer, expect=1)").points == 2.0


def test_check_hands_the_value_and_every_bound_to_compare(tmp_path):
    """compare (the master's) decides; check must pass it what the test cell said, bounds included."""
    echo = "def compare(value, expected=None, rtol=1e-7, atol=0.0, below=None, above=None):\n" \
           "    return f'compare({value}, {expected}, {rtol}, {atol}, {below}, {above})'\n"
    cell = parse_test_cell("t", "require('value')\ncheck('value', value, above=1.0, atol=0.5)", 2.0, KNOWN)
    verdict = CellJudge([*LIBRARY, echo], {"t": cell}, InProcessBridge(tmp_path, {"value": 2.0}), grading_seed=0, env={}).run(cell)
    assert "compare(2.0, None, 1e-07, 0.5, None, 1.0)" in verdict.checks[0].message


def test_check_hands_compare_the_default_tolerances_records_its_site_and_never_quotes_text_the_kernel_sent(tmp_path):
    echo = "def compare(value, expected=None, rtol=1e-7, atol=0.0, below=None, above=None):\n" \
           "    return f'compare({value}, {expected}, {rtol}, {atol}, {below}, {above})'\n"
    cell = parse_test_cell("t", "require('value', 'text')\ncheck('value', value, expect=3.0)\ncheck('text', text, expect=1)", 2.0, KNOWN)
    bridge = InProcessBridge(tmp_path, {"value": 2.0, "text": "a hidden input, say"})
    verdict = CellJudge([*LIBRARY, echo], {"t": cell}, bridge, grading_seed=0, env={}).run(cell)
    assert [(c.message, c.site) for c in verdict.checks] == [("(compare(2.0, 3.0, 1e-07, 0.0, None, None))", cell.site_at(2)),
                                                             ("(got text where a number was expected)", cell.site_at(3))]
    assert [c.site.line for c in verdict.checks] == [2, 3]


def test_a_check_that_states_no_expected_value_fails_saying_so(tmp_path):
    verdict = judge(tmp_path, {"value": 1.0}, "require('value')\ncheck('value', value, expect=None)")
    assert verdict.points == 0 and (verdict.checks[0].name, verdict.checks[0].message) == ("value", "(the check states no expected value)")


def test_a_value_that_is_not_plain_data_is_named_by_its_type(tmp_path):
    class Custom:
        pass

    verdict = judge(tmp_path, {"value": Custom()}, "require('value')\ncheck('value', value, expect=1)")
    assert verdict.points == 0 and verdict.checks[0].message == "(got a Opaque, which is not plain data)"  # what the kernel sent


def test_a_part_of_the_kernels_answer_of_another_type_than_the_grader_expects_is_refused_saying_so():
    assert part({"values": {"x": 1}}, "values", dict, {}) == {"x": 1}
    assert part({}, "missing", list, []) == []
    with pytest.raises(StudentCodeError, match="^the kernel's answer to the grader was not plain data$"):
        part({"values": [1]}, "values", dict, {})


def test_an_answer_that_is_not_plain_data_is_refused_naming_the_value_with_the_decoders_reason():
    with pytest.raises(StudentCodeError) as refusal:
        decode_answer({"list": 5}, "X_train")
    assert refusal.value.args == ("`X_train` could not be read as plain data", "malformed list")
