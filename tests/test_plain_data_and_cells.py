"""Unit tests on tiny in-memory data: the report round trip, nbgrader's cell vocabulary, reading answers
from bad files, and the command line a kernel starts with."""
from __future__ import annotations

import json

import nbformat
import pytest

from dvwcourse import cells
from dvwcourse.alignment import code_lines, signature, submitted_cells
from dvwcourse.assemble import Answers, _numbers, assemble, read_answers
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
    assert any("appears 2 times" in n for n in answers.notes) and any("missing" in n and "other" in n for n in answers.notes)


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


def test_a_cells_text_is_read_from_a_list_a_string_or_anything_else():
    raw = [{"cell_type": "code", "source": ["a = 1\n", "b = 2"], "id": "x"}, {"cell_type": "code", "source": 5, "id": 7},
           {"cell_type": "markdown", "source": "text"}, {"cell_type": "heading"}, "not a cell"]
    cells = submitted_cells(raw)
    assert [(c.index, c.source, c.tag) for c in cells] == [(0, "a = 1\nb = 2", "x"), (1, "5", None), (2, "text", None)]
