"""A time limit on each call of a student's function, set from the master's own calls: a call that does not
return is interrupted and fails its check in the grader's words; a kernel that ignores the interrupt is killed
and the notebook graded again on a fresh kernel, where that call fails at once. Cold and warm kernels alike.
Rearranged copies of the teacher are copies (Exercise 6)."""
from __future__ import annotations

import pytest

from corpus import CASES, Case, hang_when_graded
from dvwcourse.intake import Submission
from dvwcourse.safe_grading import MAX_FRESH_KERNELS, MIN_CALL_SECONDS, call_time_limits
from dvwcourse.kernel import kernel_agent
from dvwcourse.trusted_tests import READING, CallClock, GraderNamespace, CallTimedOut, KernelStopped, StudentCodeError, StudentFunction

CELL_SECONDS = 20  # graded_corpus's (tighten_limits): a stopped call must cost far less than this
NAMES = ["hang_when_graded", "hang_ignoring_interrupt", "hang_when_read", "teacher_rearranged", "teacher_rearranged_moved"]


def test_call_limits_are_a_generous_multiple_of_the_masters_calls_within_the_cell_limit():
    limits = call_time_limits({"fast": 0.002, "slow": 0.8, "slowest": 30.0}, cell_seconds=60)
    assert limits == {"fast": MIN_CALL_SECONDS, "slow": 16.0, "slowest": 60.0}


class ScriptedBridge:
    """The kernel's side, scripted: each request gets the next answer, or raises the next error."""

    def __init__(self, *outcomes) -> None:
        self.outcomes, self.asked = list(outcomes), []

    def ask(self, method, *args, payload=None, seconds=None):
        self.asked.append((method, args, seconds))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def returned(value) -> dict:
    return {"value": kernel_agent.encode(value), "args": [None], "rng": kernel_agent.rng_state()}


def test_a_call_that_times_out_fails_in_the_graders_words_with_its_own_limit():
    bridge = ScriptedBridge(CallTimedOut(7.0), returned(3))
    clock = CallClock({"f": 7.0})
    clock.start_cell("test_f")
    f = StudentFunction("f", bridge, clock)
    with pytest.raises(StudentCodeError, match=r"^your `f` did not return within 7 s on the grader's inputs$"):
        f(1)
    assert f(2) == 3 and bridge.asked == [("call", ("f",), 7.0)] * 2
    assert set(clock.seconds) == {"f"}  # only calls that returned are timed


def test_a_call_whose_kernel_was_stopped_is_named_and_fails_at_once_on_the_fresh_kernel():
    clock = CallClock({"f": 5.0})
    clock.start_cell("test_f")
    f = StudentFunction("f", ScriptedBridge(returned(1), KernelStopped("stopped", 5.0)), clock)
    f(1)
    with pytest.raises(KernelStopped, match="did not return within 5 s on the grader's inputs, and the kernel ignored the interrupt") as stop:
        f(2)
    assert stop.value.call == "test_f/f/1"
    fresh = CallClock({"f": 5.0}, stuck={stop.value.call: 5.0})
    fresh.start_cell("test_f")
    bridge = ScriptedBridge(returned(1))
    f = StudentFunction("f", bridge, fresh)
    assert f(1) == 1
    with pytest.raises(StudentCodeError, match=r"^your `f` did not return within 5 s on the grader's inputs$"):
        f(2)  # the same call, in the same order: refused without asking the kernel
    assert len(bridge.asked) == 1
    fresh.start_cell("test_g")
    assert fresh.next_call("f") == "test_g/f/0"  # calls in other cells are not affected


def test_reading_values_that_time_out_fails_in_the_graders_words():
    clock = CallClock({READING: 5.0})
    clock.start_cell("test_x")
    namespace = GraderNamespace(ScriptedBridge(CallTimedOut(5.0)), clock)
    with pytest.raises(StudentCodeError, match=r"^reading your a, b did not finish within 5 s$"):
        namespace.start_cell({"a", "b"})


@pytest.fixture(scope="module")
def graded(graded_corpus, cold_graded_corpus):
    """The stallers and rearranged teachers of the corpus, graded on warm kernels (the course's default), and one
    staller graded cold: graded_corpus's limits are this module's (CELL_SECONDS)."""
    course, warm, reports = graded_corpus
    assert course.sandbox.cell_seconds == CELL_SECONDS
    return course, warm, {name: reports[name] for name in NAMES}, cold_graded_corpus["hang_ignoring_interrupt"]


def lost(report) -> set[str]:
    return {cell.grade_id for cell in report.cells if cell.points < cell.max_points}


@pytest.mark.integration
@pytest.mark.parametrize("name", NAMES)
def test_each_case_loses_exactly_its_cells_and_is_graded(graded, name):
    _, _, reports, _ = graded
    report = reports[name]
    assert report.status == "graded", report.notes
    assert lost(report) == CASES[name].expect_lost, [(c.grade_id, c.error, [k.message for k in c.checks if not k.passed])
                                                      for c in report.cells]


@pytest.mark.integration
def test_the_masters_calls_set_each_functions_limit(graded):
    _, grader, _, _ = graded
    seconds = grader.master_data()["call_seconds"]
    assert set(seconds) == {"get_num_params", "initialize_layers", "make_data", "train_model", "compute_loss", "curve_length", READING}
    assert all(s > 0 for s in seconds.values()), seconds  # how far below the cell's limit they sit: bench/timings.py


@pytest.mark.integration
def test_a_call_that_does_not_return_fails_quickly_in_the_graders_words_and_later_cells_score(graded):
    _, grader, reports, _ = graded
    report = reports["hang_when_graded"]
    cells = {cell.grade_id: cell for cell in report.cells}
    limit = call_time_limits(grader.master_data()["call_seconds"], CELL_SECONDS)
    for name in ("get_num_params", "train_model"):
        assert cells[f"test_{name}"].error == f"your `{name}` did not return within {limit[name]:g} s on the grader's inputs"
        assert limit[name] < CELL_SECONDS
    # Later cells, which call other functions of the same kernel, still score: the interrupted kernel answers again.
    assert cells["test_compute_loss"].points == cells["test_compute_loss"].max_points
    assert cells["test_curve_length"].points == cells["test_curve_length"].max_points
    assert not any("stopped the kernel" in note for note in report.notes)


@pytest.mark.integration
@pytest.mark.parametrize("kernel", ["warm", "cold"])
def test_a_call_that_swallows_the_interrupt_is_killed_and_the_notebook_graded_again_on_a_fresh_kernel(graded, kernel):
    _, grader, reports, cold_report = graded
    report = reports["hang_ignoring_interrupt"] if kernel == "warm" else cold_report
    assert report.status == "graded" and lost(report) == {"test_get_num_params"}, report.notes
    limit = call_time_limits(grader.master_data()["call_seconds"], CELL_SECONDS)["get_num_params"]
    cell = next(c for c in report.cells if c.grade_id == "test_get_num_params")
    assert cell.error == f"your `get_num_params` did not return within {limit:g} s on the grader's inputs"
    assert any("ignored the interrupt" in note and "fresh kernel" in note for note in report.notes)


@pytest.mark.integration
def test_reading_a_value_that_never_finishes_is_limited_too_and_graded_on_a_fresh_kernel(graded):
    _, grader, reports, _ = graded
    report = reports["hang_when_read"]
    limit = call_time_limits(grader.master_data()["call_seconds"], CELL_SECONDS)[READING]
    cell = next(c for c in report.cells if c.grade_id == "test_deep_student")
    assert cell.error.startswith("reading your ") and cell.error.endswith(f" did not finish within {limit:g} s"), cell.error
    assert any("the kernel ignored the interrupt" in note and "fresh kernel" in note for note in report.notes)


@pytest.mark.integration
def test_kernels_that_keep_ignoring_the_interrupt_are_bounded_and_later_cells_say_why(graded, tmp_path):
    """compute_loss is called by four test cells: after MAX_FRESH_KERNELS fresh kernels, the rest lose their points."""
    course, grader, _, _ = graded
    from corpus import build
    from dvwcourse.samples import sample_answers
    import nbformat

    release = nbformat.read(course.release_notebook, as_version=4)
    case = Case("correct", {"get_num_params": hang_when_graded(["compute_loss"], True)})
    path = tmp_path / "stubborn.ipynb"
    path.write_bytes(build(case, release, sample_answers(course, "alternative_solutions"), {}, course.root))
    report = grader.evaluate(Submission("stubborn", path)).report
    assert report.status == "incomplete"
    cells = {cell.grade_id: cell for cell in report.cells}
    calling = ["test_compute_loss", "test_deep_student", "test_width_sweep", "test_quasi_linear"]
    assert MAX_FRESH_KERNELS < len(calling)
    for grade_id in calling[:MAX_FRESH_KERNELS]:
        assert cells[grade_id].error.startswith("your `compute_loss` did not return within"), cells[grade_id].error
    stopped = calling[MAX_FRESH_KERNELS]
    assert "ignored the interrupt" in cells[stopped].error
    assert cells["test_curve_length"].error == "not run: the grader had to stop the kernel before it (see the note above)"
    for grade_id in ("test_learning_problem", "test_width_fit"):  # no call of compute_loss: they score
        assert cells[grade_id].points == cells[grade_id].max_points, cells[grade_id].error
    assert report.seconds < (MAX_FRESH_KERNELS + 1) * course.sandbox.notebook_seconds
