"""What a hostile kernel can send on Jupyter's channels, fuzzed: every frame is decoded by one guarded session into a
Jupyter message or refused (KernelLeftProtocol), the client's handling of a message fails only that way too, and a
kernel that sends such frames is stopped with the earlier cells' results kept (the integration tests)."""
from __future__ import annotations

import json

import nbformat
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jupyter_client.session import DELIM, Session
from nbclient.exceptions import CellControlSignal

from dvwcourse.kernel.execution import LimitedClient
from dvwcourse.kernel.kernel_messages import (MAX_DEPTH, MAX_MESSAGE_BYTES, MAX_VALUES, GuardedSession, KernelLeftProtocol,
                                              require_shape)
from dvwcourse.rerun_state import state_entry
from dvwcourse.whose_fault import failed_evaluation
from test_hostile_exports import json_values

KEY = b"the-session-key"  # the kernel knows it too: it signs whatever it sends
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HONEST = [  # (msg_type, content) of what an honest kernel sends while running a cell
    ("status", {"execution_state": "busy"}),
    ("execute_input", {"code": "x = 1", "execution_count": 3}),
    ("stream", {"name": "stdout", "text": "hello\n"}),
    ("display_data", {"data": {"text/plain": "<Figure>", "image/png": "iVBORw0KGgo="}, "metadata": {}, "transient": {}}),
    ("execute_result", {"data": {"text/plain": "42"}, "metadata": {}, "execution_count": 3}),
    ("error", {"ename": "ValueError", "evalue": "no", "traceback": ["line 1", "line 2"]}),
    ("clear_output", {"wait": False}),
    ("execute_reply", {"status": "ok", "execution_count": 3, "user_expressions": {}}),
    ("status", {"execution_state": "idle"}),
]


def frames(msg_type: str, content: object, session: Session | None = None) -> list[bytes]:
    """An honest kernel's frames for one message, as the client's socket receives them."""
    session = session or Session(key=KEY)
    message = session.msg(msg_type, content=content, parent={"header": {"msg_id": "cell", "msg_type": "execute_request"}})
    return [bytes(frame) for frame in session.serialize(message)]


def forged(parts: list[bytes]) -> list[bytes]:
    """Parts signed with the session's key, as a kernel that knows it sends them."""
    return [DELIM, Session(key=KEY).sign(parts[:4]), *parts]


def receive(raw: list[bytes], session: GuardedSession | None = None) -> dict:
    """What the client's channels do with the frames of one message."""
    session = session or GuardedSession(key=KEY)
    _, message = session.feed_identities(raw)
    return session.deserialize(message)


def handle(message: dict) -> None:
    """The grading client's handling of one message while it runs a cell."""
    client = LimitedClient(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x")]), 1000, record_timing=False)  # as graded
    client.clear_before_next_output = False  # as nbclient sets it before it runs a cell
    try:
        client.process_message(message, client.nb.cells[0], 0)
    except CellControlSignal:  # the cell is done: nbclient's own flow
        pass


def part(value: object) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize("msg_type, content", HONEST)
def test_what_an_honest_kernel_sends_comes_through_unchanged(msg_type, content):
    message = receive(frames(msg_type, content))
    assert (message["msg_type"], message["content"]) == (msg_type, content)
    handle(message)


def honest_parts(msg_type="stream", content=None) -> list[bytes]:
    return frames(msg_type, {"name": "stdout", "text": "hi"} if content is None else content)[2:]


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("raw, reason", [
    pytest.param(forged([deep(300_000), *honest_parts()[1:]]), "deeper than", id="300,000 nested [ (a forged encoder)"),
    pytest.param(forged([b"1," * 50_000, *honest_parts()[1:]]), "could not be read", id="a stream of 1, (a forged encoder)"),
    pytest.param(forged([*honest_parts()[:3], b'{"a": ' + deep(MAX_DEPTH) + b"}"]), "deeper than", id="nested past the bound"),
    pytest.param(forged([*honest_parts()[:3], part({"name": "stdout", "text": "x" * MAX_MESSAGE_BYTES})]), "bytes", id="too large"),
    pytest.param(forged([*honest_parts()[:3], b"[" + b"[]," * MAX_VALUES + b"[]]"]), "values", id="too many values"),
    pytest.param(forged([*honest_parts()[:3], b"]" * 10]), "never opened", id="brackets closed, never opened"),
    pytest.param(forged([part([1, 2]), *honest_parts()[1:]]), "could not be read", id="a header that is a list"),
    pytest.param(forged([part({**json.loads(honest_parts()[0]), "msg_id": 5}), *honest_parts()[1:]]), "message id", id="a message id not text"),
    pytest.param(forged([part({"msg_type": "stream"}), *honest_parts()[1:]]), "could not be read", id="a header without its id"),
    pytest.param(forged([*honest_parts()[:3], part([])]), "content", id="content that is a list"),
    pytest.param(forged([*honest_parts()[:3], part({"name": "stdout", "text": 5})]), "text", id="stream text that is a number"),
    pytest.param(forged([*honest_parts()[:3], part({"name": "stdout"})]), "text", id="stream without text"),
    pytest.param(forged([*honest_parts("execute_reply", {})[:3], part({})]), "status", id="a reply without its status"),
    pytest.param(forged([*honest_parts()[:3], part({"name": "stdout", "text": "", "execution_count": True})]), "execution_count",
                 id="an execution count that is not a number"),
    pytest.param(forged([*honest_parts("error", {})[:3], part({"ename": "E", "evalue": "", "traceback": [1]})]), "traceback",
                 id="a traceback that is not text"),
    pytest.param(forged([b"\xff\xfe not json", *honest_parts()[1:]]), "could not be read", id="not JSON"),
    pytest.param(forged(honest_parts()[:2]), "could not be read", id="too few frames"),
    pytest.param([DELIM, b"a forged signature", *honest_parts()], "could not be read", id="not signed with the key"),
    pytest.param(honest_parts(), "could not be read", id="no delimiter"),
])
def test_each_kind_of_forged_message_is_refused_with_its_reason(raw, reason):
    with pytest.raises(KernelLeftProtocol, match=reason):
        receive(raw)


def test_text_of_any_content_within_the_size_cap_is_one_value():
    text = "[{'a': 1, 'b': [2, 3]}], " * 200_000  # a printed list of lists: 5 MB, 1.2 million brackets and commas
    assert receive(frames("stream", {"name": "stdout", "text": text}))["content"]["text"] == text


def test_nesting_up_to_the_bound_is_read_and_a_replayed_message_is_not():
    content = part({"name": "stdout", "text": "", "nested": json.loads(deep(MAX_DEPTH - 1))})
    raw = forged([*honest_parts()[:3], content])
    session = GuardedSession(key=KEY)
    assert receive(raw, session)["content"]["text"] == ""
    with pytest.raises(KernelLeftProtocol):  # the same signature twice: not a kernel speaking the protocol
        receive(raw, session)


def reads_or_refuses(raw: list[bytes], session: GuardedSession | None = None) -> None:
    """The whole reading path on one message: a Jupyter message the client handles, or KernelLeftProtocol; nothing else."""
    try:
        message = receive(raw, session)
    except KernelLeftProtocol as error:
        assert str(error)  # a reason, in the grader's words
        return
    require_shape(message)
    try:
        handle(message)
    except KernelLeftProtocol as error:
        assert str(error)


PART_NAMES = ["header", "parent_header", "metadata", "content"]
FIELDS = ["msg_id", "msg_type", "name", "text", "data", "metadata", "execution_state", "status", "ename", "evalue", "traceback",
          "execution_count", "wait", "transient", "version", "date"]
json_parts = st.recursive(json_values, lambda inner: st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4), max_leaves=20)


@FUZZ
@given(st.sampled_from(HONEST), st.sampled_from(PART_NAMES), st.sampled_from(FIELDS) | st.none(), json_parts)
def test_an_honest_message_with_any_part_or_field_replaced_is_read_or_refused(honest, part_name, field, value):
    msg_type, content = honest
    parts = honest_parts(msg_type, content)
    index = PART_NAMES.index(part_name)
    if field is None:
        parts[index] = part(value)
    else:
        parts[index] = part({**json.loads(parts[index]), field: value})
    reads_or_refuses(forged(parts))


@FUZZ
@given(st.lists(st.binary(max_size=40) | json_parts.map(part), max_size=7), st.booleans())
def test_any_frames_are_read_or_refused(parts, signed):
    reads_or_refuses(forged(parts) if signed else [DELIM, *parts])


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(HONEST), st.booleans(), st.integers(0, 3)), min_size=1, max_size=8))
def test_honest_and_forged_messages_interleaved_on_one_session_are_each_read_or_refused(sequence):
    """A stream of messages on one channel: honest ones, replays of earlier ones, and ones with a part cut or doubled."""
    session, sent = GuardedSession(key=KEY), []
    for (msg_type, content), replay, change in sequence:
        raw = sent[-1] if replay and sent else frames(msg_type, content)
        parts = raw[2:]
        parts = [parts, parts[:change], parts + parts[:change], [*parts[:change], deep(MAX_DEPTH + 1), *parts[change + 1:]]][change]
        raw = forged(parts) if change else raw
        sent.append(raw)
        reads_or_refuses(raw, session)


def test_a_failure_on_what_the_kernel_sent_is_the_submissions_and_final_any_other_is_the_graders_and_retried():
    try:
        receive(forged([deep(300_000), *honest_parts()[1:]]))
    except KernelLeftProtocol as error:
        hostile = failed_evaluation("ann", 24.0, error)
    try:
        raise RecursionError("maximum recursion depth exceeded")  # the same type, raised by the grader's own code
    except RecursionError as error:
        bug = failed_evaluation("bo", 24.0, error)
    assert (hostile.report.status, state_entry("d", "f", hostile.report.to_dict())["final"]) == ("incomplete", True)
    assert (bug.report.status, state_entry("d", "f", bug.report.to_dict())["final"]) == ("error", False)


# -- a kernel that sends arbitrary frames on its own sockets (integration) --------------------------------------------
# The fake kernel is a real one whose cell sends what hypothesis chose, signed with the kernel's own key, on IOPub or
# on the shell channel as a reply to the running cell, with honest output between; a part is either given bytes,
# JSON nested `deep`, `big` beyond the size cap, or `parent`: the running cell's own header (a forged reply to it).
SEND_FORGED = '''
def _send_forged(sends):
    import json
    kernel = get_ipython().kernel
    made = {"deep": lambda n: b"[" * n + b"]" * n, "big": lambda n: b"1," * (n // 2), "raw": lambda raw: raw,
            "parent": lambda _: json.dumps(kernel.get_parent()["header"], default=str).encode()}
    for index, (channel, signed, specs) in enumerate(sends):
        print("honest output", index)
        parts = [made[kind](value) for kind, value in specs]
        frames = [b"<IDS|MSG>", kernel.session.sign(parts[:4]) if signed else b"unsigned", *parts]
        if channel == "shell":
            ident = kernel._parent_ident["shell"]
            kernel.shell_stream.send_multipart(([ident] if isinstance(ident, bytes) else list(ident)) + frames)
        else:
            kernel.iopub_socket.send_multipart([b"forged", *frames])
'''


def forger(sends: list) -> str:
    """A cell that sends `sends` when it runs."""
    return f"{SEND_FORGED}_send_forged({sends!r})\n"
part_specs = (st.tuples(st.just("raw"), st.binary(max_size=30) | json_parts.map(part))
              | st.tuples(st.sampled_from(["deep"]), st.sampled_from([MAX_DEPTH + 1, 300_000]))
              | st.tuples(st.just("big"), st.just(MAX_MESSAGE_BYTES + 2)) | st.tuples(st.just("parent"), st.none()))


@st.composite
def sends(draw) -> list:
    """A few messages: an honest one's parts (a reply to the running cell, or output) with some replaced, cut or added."""
    chosen = []
    for _ in range(draw(st.integers(1, 3))):
        msg_type, content = draw(st.sampled_from(HONEST))
        specs = [("raw", raw) for raw in honest_parts(msg_type, content)]
        if draw(st.booleans()):
            specs[1] = ("parent", None)  # addressed to the running cell
        for _ in range(draw(st.integers(0, 2))):
            specs[draw(st.integers(0, len(specs) - 1))] = draw(part_specs)
        specs = specs[:draw(st.integers(0, len(specs)))] if draw(st.booleans()) else specs
        chosen.append((draw(st.sampled_from(["iopub", "shell"])), draw(st.booleans()), specs))
    return chosen


@pytest.fixture(scope="module")
def plain_launcher(course):
    from dvwcourse.kernel.sandbox import make_launcher

    return make_launcher(course.sandbox)


@pytest.mark.integration
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(sends())
def test_a_kernel_sending_arbitrary_frames_is_read_or_stopped_and_its_other_cells_run_as_before(plain_launcher, chosen):
    from dvwcourse.kernel.execution import run_notebook

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 41\nprint('before')", id="before"),
                                         nbformat.v4.new_code_cell(forger(chosen), id="forger"),
                                         nbformat.v4.new_code_cell("x += 1\nprint(x)", id="after")])
    result = run_notebook(nb, None, plain_launcher, {})  # returns: no exception, no hang
    assert nb.cells[0].outputs[0].text == "before\n"
    event("stopped" if result.left_protocol_after else "read")
    if result.left_protocol_after:
        assert result.left_protocol_after == "forger" and result.unrun == ["after"], result.notes
        assert any("stopped answering in Jupyter's format after cell forger" in note for note in result.notes)
    else:
        assert "".join(o.get("text", "") for o in nb.cells[2].outputs) == "42\n", (result.notes, nb.cells[2].outputs)


# -- the same kernel graded: the earlier cells keep their points, the result is recorded and final (integration) ----
# Sent from the last answer cell, after a correct curve_length: one of each kind of frame a kernel can forge; and
# sent by curve_length itself, when the grader calls it in its test cell.
FAKE_KERNELS = {
    "nesting": [("iopub", True, [("deep", 300_000), ("raw", b"{}"), ("raw", b"{}"), ("raw", b"{}")])],
    "size": [("iopub", True, [("big", MAX_MESSAGE_BYTES + 2), ("raw", b"{}"), ("raw", b"{}"), ("raw", b"{}")])],
    "types": [("iopub", True, [("raw", honest_parts()[0]), ("parent", None), ("raw", b"{}"), ("raw", part({"name": 1, "text": []}))])],
    "missing_fields": [("iopub", True, [("raw", part({"msg_type": "stream"})), ("parent", None), ("raw", b"{}"), ("raw", b"{}")])],
    "forged_reply": [("shell", True, [("raw", honest_parts("execute_reply", {})[0]), ("parent", None), ("raw", b"{}"), ("raw", b"[]")])],
    "during_a_check": [("iopub", True, [("deep", 300_000), ("raw", b"{}"), ("raw", b"{}"), ("raw", b"{}")])],
}


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    from conftest import copy_course, require_sandbox, share_master_run, tighten_limits
    from dvwcourse.release import build_release
    from dvwcourse.settings import load_course

    root = tmp_path_factory.mktemp("course")
    require_sandbox()
    tighten_limits(copy_course(root).root)
    course = load_course(root)
    build_release(course)
    share_master_run(course)
    return course


def fake_kernel_submissions(course, folder, names):
    """Submissions that answer two cells right, the first and the last, whose last answer also sends the frames of
    FAKE_KERNELS[name] (no other answer: its training would cost seconds and prove nothing here)."""
    from conftest import answering_only, right_answers
    from corpus import CORRECT_CURVE_LENGTH, FIRST
    from dvwcourse.intake import find_submissions

    folder.mkdir()
    for name in names:
        sender = forger(FAKE_KERNELS[name])
        if name == "during_a_check":  # the frames go out when the grader calls curve_length, then it answers correctly
            sender = (f"{SEND_FORGED}_right = curve_length\ndef curve_length(curve):\n"
                      f"    _send_forged({FAKE_KERNELS[name]!r})\n    return _right(curve)\n")
        answers = {**right_answers(course, FIRST), "curve_length": f"{CORRECT_CURVE_LENGTH}\n{sender}"}
        (folder / f"{name}.ipynb").write_bytes(answering_only(course, answers))
    return find_submissions(course, folder)


@pytest.mark.integration
def test_a_fake_kernel_is_stopped_recorded_with_the_earlier_points_and_not_graded_again(released, tmp_path):
    from dvwcourse.nbgrader_api import open_gradebook
    from dvwcourse.safe_grading import Grader
    from dvwcourse.workers import LocalWorkers

    from corpus import FIRST

    submissions = fake_kernel_submissions(released, tmp_path / "incoming", list(FAKE_KERNELS))
    grader = Grader(released)
    reports = grader.grade_all(submissions, workers=LocalWorkers(2))
    earlier = released.points[f"test_{FIRST}"]  # the one right answer before the fake kernel
    for report in reports:
        reason = "the notebook's kernel stopped answering in Jupyter's format after cell " + (
            "test_curve_length" if report.student == "during_a_check" else "curve_length")
        lost = {cell.grade_id: cell.error for cell in report.cells if cell.points < cell.max_points}
        scored = [cell.grade_id for cell in report.cells if cell.points == cell.max_points]
        assert (report.status, report.score, scored) == ("incomplete", earlier, [f"test_{FIRST}"]), (report.student, report.notes)
        assert reason in lost["test_curve_length"] and report.kernels == 1
        feedback = released.root / "feedback" / report.student / released.assignment_id / f"{released.notebook}.html"
        assert reason.replace("'", "&#39;") in feedback.read_text()
    with open_gradebook(released) as gradebook:
        assert {r.student: gradebook.find_submission(released.assignment_id, r.student).score for r in reports} == {
            name: earlier for name in FAKE_KERNELS}
    assert all(report.skipped for report in grader.grade_all(submissions, workers=LocalWorkers(2)))  # final: not graded again


@pytest.mark.integration
def test_the_master_graded_the_same_way_tells_a_grader_bug_from_a_hostile_kernel(released, tmp_path, monkeypatch):
    """A hostile kernel: the master passes through the same path, the submission is its own doing (incomplete, final).
    A grader bug on that path (here the client's handling of every output fails): the master fails too, so the
    submission is the grader's error, retried by the next run."""
    from dvwcourse.safe_grading import Grader

    (submission,) = fake_kernel_submissions(released, tmp_path / "incoming", ["types"])
    assert Grader(released).evaluate(submission).report.status == "incomplete"

    def broken_output(*args, **kwargs):
        raise ValueError("a bug in the grader's own handling of output")

    monkeypatch.setattr(LimitedClient, "output", broken_output)
    for cache in released.state_dir.glob("master-checks-*.json"):
        cache.unlink()  # as after a change of the grading code: the master runs again
    evaluation = Grader(released).evaluate(submission)
    assert evaluation.report.status == "error", evaluation.report.notes
    assert "the master fails its own checks" in evaluation.report.notes[0]
    assert not state_entry("d", "f", evaluation.report.to_dict())["final"]
