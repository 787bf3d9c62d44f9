"""Unit tests on tiny in-memory data: the report round trip, nbgrader's cell vocabulary, reading answers
from bad files, and the command line a kernel starts with."""
from __future__ import annotations

import json

import nbformat
import pytest

from dvwcourse import cells
from dvwcourse.alignment import SubmittedCell, align, code_lines, looks_like, normalized, signature, submitted_cells
from dvwcourse.assemble import Answers, StudentCell, _numbers, assemble, read_answers
from dvwcourse.kernel.execution import MAX_SOCKET_PATH, ipc_connection
from dvwcourse.records import CellVerdict, CheckSite, CheckVerdict, Evaluation, GradeReport
from dvwcourse.kernel.sandbox import KernelLauncher
from dvwcourse.settings import SandboxSettings

SETTINGS = SandboxSettings(enabled=True, required=True, cell_seconds=10, notebook_seconds=60, memory_bytes=3_000_000_000,
                           max_processes=32, max_output_bytes_per_cell=10_000, max_file_bytes=5_000_000,
                           scratch_tmpfs_bytes=20_000_000, work_folder_bytes=30_000_000, warm_kernels=False)


def cell(source: str, grade_id: str | None = None, **flags) -> nbformat.NotebookNode:
    metadata = {"nbgrader": {"grade_id": grade_id, "grade": False, "solution": False, "locked": False, **flags}} if grade_id else {}
    return nbformat.v4.new_code_cell(source, id=f"id-{grade_id or 'plain'}", metadata=metadata)


def notebook(*code_cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = list(code_cells)
    return nb


# -- reports --------------------------------------------------------------------------------------
def test_a_report_survives_its_dict_round_trip_through_json():
    site = CheckSite(2, 5, 7, True, 'check("x", x, expect=1)', msg="x is wrong")
    verdict = CellVerdict("test_x", 1.0, 2.0, [CheckVerdict("x", False, True, "x is wrong", site)], error="", flags=["odd"], unreached=1)
    report = GradeReport("ann", "incomplete", 1.0, 2.0, [verdict], notes=["n"], flags=["f"], seconds=1.5, sandboxed=True)
    again = GradeReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report and again.cells[0].checks[0].site == site and again.graded


def test_a_failed_evaluation_scores_nothing_and_says_why():
    evaluation = Evaluation.failed("bo", "unreadable", 24.0, "bo.ipynb is not a notebook")
    assert evaluation.report.score == 0 and evaluation.report.notes == ["bo.ipynb is not a notebook"]
    assert not evaluation.report.graded and evaluation.notebook is None


# -- nbgrader's cell vocabulary -------------------------------------------------------------------
def test_cells_are_known_by_grade_id_and_kind():
    answer, test, written, plain = (cell("x = 1", "ans", solution=True), cell("check()", "test_ans", grade=True, locked=True, points=2),
                                    cell("", "think", grade=True, solution=True, points=1), cell("import numpy"))
    nb = notebook(answer, test, written, plain)
    assert [cells.grade_id(c) for c in nb.cells] == ["ans", "test_ans", "think", None]
    assert [cells.is_test_cell(c) for c in nb.cells] == [False, True, False, False]
    assert [cells.is_written_answer(c) for c in nb.cells] == [False, False, True, False]
    assert list(cells.graded_cells(nb)) == ["test_ans", "think"] and cells.points(test) == 2
    assert cells.cell_by_grade_id(nb, "think") is written and cells.cell_by_grade_id(nb, "nothing") is None
    cells.set_points(test, 3)
    assert cells.points(test) == 3


@pytest.mark.parametrize("raw", [None, 3, "cell", {"metadata": []}, {"metadata": {"nbgrader": "x"}}, {"metadata": {"nbgrader": {"grade_id": 5}}}])
def test_a_malformed_cell_has_no_grade_id_and_raises_nothing(raw):
    assert cells.raw_grade_id(raw) is None


# -- reading a submission ---------------------------------------------------------------------------
RELEASE = notebook(cell("# stub", "ans", solution=True), cell("# stub 2", "other", solution=True))


def answers_from(tmp_path, raw: bytes) -> Answers:
    path = tmp_path / "sub.ipynb"
    path.write_bytes(raw)
    return read_answers(path, RELEASE)


def raw_cell(grade_id: str, source) -> dict:
    return {"cell_type": "code", "id": "whatever", "metadata": {"nbgrader": {"grade_id": grade_id}}, "source": source}


@pytest.mark.parametrize("raw, why", [
    (b"\x00\xff not json", "invalid JSON"),
    (b"[1, 2]", "no list of cells"),
    (b'{"cells": 5}', "no list of cells"),
    (b"", "is empty (0 bytes)"),
])
def test_a_file_that_is_not_a_notebook_is_unreadable_with_the_reason(tmp_path, raw, why):
    answers = answers_from(tmp_path, raw)
    assert why in answers.unreadable and "sub.ipynb" in answers.unreadable and answers.cells == {}


def test_bad_bytes_are_replaced_and_noted_and_the_answers_still_read(tmp_path):
    text = json.dumps({"cells": [raw_cell("ans", ["x = 1  # caf", "\u00e9"]), raw_cell("other", "y = 2")]})
    answers = answers_from(tmp_path, text.replace("\\u00e9", "\u00e9").encode("utf-8").replace("\u00e9".encode(), b"\xe9"))
    assert answers.unreadable == "" and answers.cells["other"] == "y = 2"
    assert answers.cells["ans"].startswith("x = 1  # caf") and "\ufffd" in answers.cells["ans"]
    assert any("not valid UTF-8" in note for note in answers.notes)


def test_duplicated_unknown_and_missing_answer_cells(tmp_path):
    text = json.dumps({"cells": [raw_cell("ans", "first"), raw_cell("ans", "second"), raw_cell("sneaky", "import os"), 7]})
    answers = answers_from(tmp_path, text.encode())
    assert answers.cells == {"ans": "first"} and [c.source for c in answers.own] == ["second", "import os"]
    assert answers.notes == [  # both copies are worked on: none was skipped
        "ans: this answer cell appears 2 times in your notebook (cells 1, 2): every copy with your work in it ran, in your notebook's order",
        "answer cells missing from the submission (graded as unanswered): other",
        "code cells you added (1) ran in their place among the course's cells"]


def test_a_missing_file_is_unreadable(tmp_path):
    assert "cannot be read" in read_answers(tmp_path / "gone.ipynb", RELEASE).unreadable


def test_assembling_takes_only_answer_text_and_the_release_stub_where_none():
    master = notebook(cell("import torch"), cell("SOLUTION", "ans", solution=True), cell("check()", "test_ans", grade=True, locked=True),
                      cell("SOLUTION 2", "other", solution=True))
    release = notebook(cell("import torch"), cell("# stub", "ans", solution=True), cell("check()", "test_ans", grade=True, locked=True),
                       cell("# stub 2", "other", solution=True))
    graded = assemble(master, release, Answers(cells={"ans": "mine"}))
    assert [c.source for c in graded.cells] == ["import torch", "mine", "check()", "# stub 2"]
    assert master.cells[1].source == "SOLUTION"  # the master is not changed


def test_own_cells_with_no_course_cell_before_them_go_first_when_the_master_starts_with_an_answer():
    master = notebook(cell("SOLUTION", "ans", solution=True), cell("check()", "test_ans", grade=True, locked=True))
    release = notebook(cell("# stub", "ans", solution=True), cell("check()", "test_ans", grade=True, locked=True))
    own = [StudentCell(None, "code", "import math"), StudentCell("a_cell_this_release_lacks", "markdown", "notes"),
           StudentCell("ans", "code", "x = 1")]
    graded = assemble(master, release, Answers(cells={"ans": "mine"}, own=own))
    assert [(c.id, c.source) for c in graded.cells] == [
        ("student-cell-1", "import math"), ("student-cell-2", "notes"), ("id-ans", "mine"), ("student-cell-3", "x = 1"),
        ("id-test_ans", "check()")]


def test_own_cells_go_last_in_a_master_without_answer_cells():
    master = notebook(cell("import torch"), cell("check()", "test_x", grade=True, locked=True))
    graded = assemble(master, master, Answers(own=[StudentCell(None, "code", "import math")]))
    assert [(c.id, c.source) for c in graded.cells] == [("id-plain", "import torch"), ("id-test_x", "check()"), ("student-cell-1", "import math")]


# -- the kernel's command line ---------------------------------------------------------------------
def test_a_sandboxed_kernel_runs_in_bubblewrap_with_limits_and_an_unprivileged_uid(tmp_path):
    scratch = tmp_path / "scratch"
    command = KernelLauncher(SETTINGS, sandboxed=True, uid=61000, bounded=True).command(["python", "-m", "kernel"], scratch)
    assert command[:5] == ["prlimit", "--as=3000000000", "--fsize=5000000", "--core=0", "--nproc=32"]
    bwrap = command[command.index("bwrap"):command.index("setpriv")]
    for flag in ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--new-session"):
        assert flag in bwrap
    assert ["--bind", str(scratch), str(scratch)] == bwrap[bwrap.index(str(scratch)) - 1:bwrap.index(str(scratch)) + 2]
    assert ["--bind", str(scratch) + ".tmp", "/tmp"] == bwrap[bwrap.index("/tmp") - 2:bwrap.index("/tmp") + 1]
    assert ["--ro-bind", "/usr", "/usr"] == bwrap[bwrap.index("/usr") - 1:bwrap.index("/usr") + 2]
    assert not any(arg == "--bind" and bwrap[i + 1] not in (str(scratch), str(scratch) + ".tmp") for i, arg in enumerate(bwrap))
    setpriv = command[command.index("setpriv"):]
    assert setpriv[:6] == ["setpriv", "--reuid=61000", "--regid=61000", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
    assert command[-3:] == ["python", "-m", "kernel"]


def test_without_bubblewrap_the_kernel_is_confined_by_a_mount_namespace_and_dies_with_the_grader(tmp_path):
    command = KernelLauncher(SETTINGS, sandboxed=False, uid=61001, bounded=True).command(["python"], tmp_path / "s")
    assert "bwrap" not in command and "dvwcourse.kernel.confine" in command
    assert command[command.index("--scratch") + 1] == str(tmp_path / "s") and command[command.index("--tmp") + 1] == str(tmp_path / "s.tmp")
    assert "--reuid=61001" in command and command[-3:] == ["--pdeathsig", "KILL", "python"]


def test_without_root_only_the_resource_limits_remain(tmp_path):
    command = KernelLauncher(SETTINGS, sandboxed=False, bounded=False).command(["python"], tmp_path / "s")
    assert command == ["prlimit", "--as=3000000000", "--fsize=5000000", "--core=0", "--", "setpriv", "--pdeathsig", "KILL", "--", "python"]


def test_a_scratch_folder_too_deep_for_the_kernels_sockets_is_refused_with_its_reason(tmp_path):
    fits = tmp_path / ("s" * (MAX_SOCKET_PATH - len(str(tmp_path)) - 12))
    assert ipc_connection(fits) == {"transport": "ipc", "ip": f"{fits}/kernel", "connection_file": f"{fits}/kernel.json"}
    too_deep = tmp_path / ("s" * (MAX_SOCKET_PATH - len(str(tmp_path)) - 10))
    with pytest.raises(RuntimeError, match=r"too deep for the kernel's sockets \(108 characters, Unix sockets allow 107\): set TMPDIR"):
        ipc_connection(too_deep)


def test_cell_numbers_are_counted_from_one_and_cut_after_ten():
    assert _numbers([0, 4]) == "1, 5"
    assert _numbers(list(range(10))) == "1, 2, 3, 4, 5, 6, 7, 8, 9, 10"
    assert _numbers(list(range(13))) == "1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 3 more"


def test_lines_of_code_are_compared_without_comments_and_spaces():
    assert code_lines("x = f(a, b)  # the # first\n# only a comment\n") == {"x=f(a,b)", ""}
    assert signature("def get_num_params(n_in, W, D):\n    # YOUR CODE HERE\n    raise NotImplementedError()") == "defget_num_params("
    assert signature("# YOUR CODE HERE\nraise NotImplementedError()") is None
    assert signature("def f(a=(1, 2)):\n    # YOUR CODE HERE") == "deff("  # up to the first parenthesis


def test_a_cells_text_is_compared_without_trailing_spaces_and_outer_blank_lines_but_with_its_indentation():
    assert normalized("\n\ndef f():  \n    return 1\t\n\n") == "def f():\n    return 1"


def test_a_cells_text_is_read_from_a_list_a_string_or_anything_else():
    raw = [{"cell_type": "code", "source": ["a = 1\n", "b = 2"], "id": "x"}, {"cell_type": "code", "source": 5, "id": 7},
           {"cell_type": "markdown", "source": "text"}, {"cell_type": "heading"}, "not a cell"]
    cells = submitted_cells(raw)
    assert [(c.index, c.source, c.tag) for c in cells] == [(0, "a = 1\nb = 2", "x"), (1, "5", None), (2, "text", None)]
    assert submitted_cells([{"cell_type": "raw", "source": "r"}, {"cell_type": "code"}]) == [
        SubmittedCell(0, "raw", "r", None, False), SubmittedCell(1, "code", "", None, False)]  # no source: empty


# -- which submitted cell is which (alignment), on tiny releases -------------------------------------
def text(source: str, grade_id: str | None = None, **flags) -> nbformat.NotebookNode:
    metadata = {"nbgrader": {"grade_id": grade_id, "grade": False, "solution": False, "locked": False, **flags}} if grade_id else {}
    return nbformat.v4.new_markdown_cell(source, id=f"id-{grade_id or 'plain'}", metadata=metadata)


def untagged(cell_type: str, source: str) -> dict:
    """A cell that lost its nbgrader metadata and has no id (nbformat 4.0 files have none)."""
    return {"cell_type": cell_type, "source": source, "metadata": {}}


def test_cells_without_tag_or_id_are_no_course_cell_even_where_the_release_has_untagged_cells():
    # Bug found by mutation testing: an untagged release cell made every cell without tag or id "the cell named None":
    # the student's own cells were dropped unrun and the answers next to them were not found.
    release = notebook(text("Intro"), text("YOUR ANSWER HERE", "why", solution=True), cell("check()", "test_ans", grade=True, locked=True))
    found = align(release, submitted_cells([untagged("markdown", "Because."), untagged("code", "helper = 1"), untagged("code", "check()")]))
    assert (found.mapped, found.recovered, found.ambiguous) == ({0: "why", 2: "test_ans"}, {"why": 0}, {})


def test_a_submission_of_hundreds_of_cells_keeps_a_repeated_course_cell_as_an_anchor():
    # difflib's autojunk would ignore a tag repeated in a list of 200 items or more, and with it the anchor.
    release = notebook(text("YOUR ANSWER HERE", "why", solution=True), cell("check()", "test_ans", grade=True, locked=True))
    raw = [untagged("markdown", "Because."), *[raw_cell("test_ans", "check()")] * 5,
           *[untagged("code", f"x = {n}") for n in range(200)], untagged("markdown", "My notes.")]
    found = align(release, submitted_cells(raw))
    assert (found.recovered, found.ambiguous) == ({"why": 0}, {})


def test_a_code_answer_found_anywhere_lets_its_neighbour_be_found_among_fewer_cells():
    release = notebook(cell("def g():\n    # YOUR CODE HERE", "g", solution=True), cell("check_g()", "test_g", grade=True, locked=True),
                       cell("def f():\n    # YOUR CODE HERE", "f", solution=True), cell("check_f()", "test_f", grade=True, locked=True))
    # Cell 0 looks like both answers; f has no candidate at its place, so the whole notebook is searched for it: cell 0 only.
    # That leaves cell 1 as the one candidate for g.
    raw = [untagged("code", "def g(): return 1\ndef f(): return 1"), untagged("code", "def g(): return 2"), untagged("code", "check_g()"),
           untagged("code", "check_f()")]
    found = align(release, submitted_cells(raw))
    assert (found.mapped, found.recovered, found.ambiguous) == ({0: "f", 1: "g", 2: "test_g", 3: "test_f"}, {"f": 0, "g": 1}, {})


def test_an_answer_found_at_its_place_takes_no_lookalike_from_elsewhere():
    release = notebook(cell("def f():\n    # YOUR CODE HERE", "f", solution=True), cell("check_f()", "test_f", grade=True, locked=True),
                       cell("check_end()", "test_end", grade=True, locked=True))
    raw = [untagged("code", "def f(): return 1"), untagged("code", "check_f()"), untagged("code", "check_end()"), untagged("code", "def f(): return 3")]
    found = align(release, submitted_cells(raw))
    assert (found.mapped, found.recovered) == ({0: "f", 1: "test_f", 2: "test_end"}, {"f": 0})


def test_candidates_are_named_only_near_an_answers_place_and_a_written_answer_is_not_searched_for_elsewhere():
    release = notebook(cell("def f():\n    # YOUR CODE HERE", "f", solution=True), cell("check_f()", "test_f", grade=True, locked=True),
                       text("YOUR ANSWER HERE", "why", solution=True), cell("check_why()", "test_why", grade=True, locked=True),
                       cell("check_end()", "test_end", grade=True, locked=True))
    raw = [untagged("code", "def f(): return 1"), untagged("code", "def f(): return 2"), untagged("code", "check_f()"),
           untagged("code", "check_why()"), untagged("markdown", "Because."), untagged("code", "check_end()"), untagged("code", "def f(): return 3")]
    found = align(release, submitted_cells(raw))
    assert (found.recovered, found.ambiguous) == ({}, {"f": [0, 1]})


def test_an_untagged_cell_looks_like_an_answer_only_of_its_own_type_with_text_and_a_code_answer_by_its_signature_line():
    stub, written = cell("torch.manual_seed(-1)", "seed", solution=True), text("YOUR ANSWER HERE", "why", solution=True)
    as_cell = lambda cell_type, source: submitted_cells([untagged(cell_type, source)])[0]  # noqa: E731
    assert looks_like(as_cell("markdown", "Because."), written, None, set())
    assert not looks_like(as_cell("code", "x = 1"), written, None, {"x=1"})  # another type
    assert not looks_like(as_cell("markdown", "  \n"), written, None, set())  # no text
    assert looks_like(as_cell("code", "torch.manual_seed(-1)"), stub, "torch.manual_seed(-1)", {"torch.manual_seed(-1)"})
    assert not looks_like(as_cell("code", "torch.manual_seed(-1) + 1"), stub, "torch.manual_seed(-1)", {"torch.manual_seed(-1)+1"})
