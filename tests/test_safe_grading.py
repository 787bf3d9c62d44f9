"""Safe grading of the submission corpus (tests/corpus.py): every case gets exactly its expected score."""
from __future__ import annotations

import sqlite3

import nbformat
import pytest

from corpus import CASES, LEAK
from dvwcourse.intake import find_submissions
from dvwcourse.nbgrader_api import open_gradebook

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def graded(graded_corpus):
    return graded_corpus

@pytest.mark.parametrize("name", list(CASES))
def test_corpus_case_gets_its_expected_outcome(graded, name):
    course, grader, reports = graded
    case, report = CASES[name], reports[name]
    assert report.status == case.expect_status, report.notes
    assert report.max_score == 24
    lost = {cell.grade_id for cell in report.cells if cell.points < cell.max_points}
    if case.expect_lost is None:
        assert report.score == 0, {c.grade_id: c.points for c in report.cells}
    else:
        assert lost == case.expect_lost, [(c.grade_id, [k.message for k in c.checks if not k.passed]) for c in report.cells if c.grade_id in lost]
        assert all(cell.points in (0, cell.max_points) for cell in report.cells)


def outcome_text(course, report) -> str:
    """Everything a graded submission left to read: its graded notebook's outputs, and the report's notes, flags,
    cell errors and failed checks."""
    texts = [*report.notes, *report.flags]
    for cell in report.cells:
        texts += [cell.error, *(check.message for check in cell.checks if not check.passed)]
    path = course.autograded_notebook(report.student)
    for cell in nbformat.read(path, as_version=4).cells if path.exists() else []:
        for output in cell.get("outputs", []):
            texts += [str(output.get("text", "")), output.get("ename", ""), output.get("evalue", "")]
    return "\n".join(text for text in texts if text)


@pytest.mark.parametrize("name", [name for name, case in CASES.items() if case.evidence])
def test_each_attack_and_fault_leaves_evidence_that_it_ran_and_what_stopped_it(graded, name):
    """A broken attack (it raised early, or an internal name it reaches was renamed) would score like a blank
    notebook; its evidence is missing instead."""
    course, _, reports = graded
    assert CASES[name].evidence in outcome_text(course, reports[name])


def test_a_cell_that_swallows_the_interrupt_has_its_kernel_stopped_once_not_rerun(graded):
    _, _, reports = graded
    notes = reports["stubborn_loop"].notes
    assert any("Cell curve_length ignored the interrupt at its time limit, so the grader stopped the kernel" in n for n in notes), notes
    assert not any("fresh kernel" in n for n in notes), notes  # no call of a later check waited on the busy kernel


@pytest.mark.parametrize("name, cell", [("json_encoder_nesting", "get_num_params"), ("json_encoder_stream", "curve_length")])
def test_a_kernel_whose_json_encoder_is_forged_is_stopped_said_why_and_not_graded_again(graded, name, cell):
    course, grader, reports = graded
    reason = f"the notebook's kernel stopped answering in Jupyter's format after cell {cell}"
    assert all(reason in c.error for c in reports[name].cells if c.points < c.max_points), reports[name].notes
    assert reason.replace("'", "&#39;") in feedback_html(course, name)
    (submission,) = [s for s in find_submissions(course, course.root / "incoming") if s.student == name]
    assert [r.skipped for r in grader.grade_all([submission])] == [True]


def test_every_case_is_in_the_gradebook_with_its_score(graded):
    course, _, reports = graded
    with open_gradebook(course) as gradebook:
        for name, report in reports.items():
            assert gradebook.find_submission(course.assignment_id, name).score == report.score


def test_student_code_could_not_touch_the_gradebook(graded):
    course, _, reports = graded
    tables = {row[0] for row in sqlite3.connect(course.root / "gradebook.db").execute("select name from sqlite_master")}
    assert "hacked" not in tables


def feedback_html(course, student):
    return (course.root / "feedback" / student / course.assignment_id / f"{course.notebook}.html").read_text()


@pytest.mark.parametrize("name", [name for name in CASES if name.startswith("leak_")])
def test_leakers_get_nothing_of_the_hidden_tests_into_their_feedback(graded, name):
    course, _, reports = graded
    html = feedback_html(course, name)
    release = course.release_notebook.read_text()  # what students have anyway
    hidden_names = {check.name for cell in reports["correct"].cells for check in cell.checks if check.hidden}
    assert LEAK not in html and "__dvw_agent__" not in html and "BEGIN HIDDEN" not in html
    assert not [hidden for hidden in hidden_names if hidden in html and hidden not in release]
    assert "_reference_problem" not in html and "grading_rng" not in html


def test_numbers_a_notebook_reports_that_the_grader_measures_differently_are_flagged(graded):
    _, _, reports = graded
    # A root-mean-square compute_loss makes loss_deep wrong although Exercise 6's own checks agree with it.
    assert any("loss_deep: the notebook reports" in flag for flag in reports["mistake_compute_loss"].flags)
    assert not reports["correct"].flags


def test_a_cell_stopped_at_its_time_limit_says_so_and_names_the_likely_cause(graded):
    course, _, reports = graded
    html = feedback_html(course, "hard_coded_epochs")
    assert "ran longer than" in html and "hard-coded epoch count: scale it with the budget helper, as the exercise text shows" in html
    deep = next(cell for cell in reports["hard_coded_epochs"].cells if cell.grade_id == "test_deep_student")
    assert "deep_student was stopped at its time limit" in deep.error


def test_odd_files_say_what_happened(graded):
    course, _, reports = graded
    assert "invalid JSON" in reports["malformed_json"].notes[0]
    assert any("UTF-8" in note for note in reports["non_utf8"].notes)
    assert any("appears 2 times" in note for note in reports["duplicated_answer"].notes)
    assert sum("without its grading tag" in note for note in reports["untagged_answers"].notes) == 13  # every code answer, and the written one
    assert any("code cells you added (2) ran" in note for note in reports["student_cells"].notes)
    assert any("kernel died" in note for note in reports["kill_kernel"].notes)
    flood = nbformat.read(course.autograded_notebook("huge_output"), as_version=4)
    (cell,) = [c for c in flood.cells if c.id == "curve_length"]
    kept = sum(len(output.get("text", "")) for output in cell.outputs)
    assert 0 < kept <= course.sandbox.max_output_bytes_per_cell + 100  # 10^7 lines, cut to the cap


def test_feedback_gives_hidden_messages_but_never_hidden_code(graded):
    course, _, _ = graded
    html = (course.root / "feedback" / "mistake_get_num_params" / course.assignment_id / f"{course.notebook}.html").read_text()
    assert "several hidden layers" in html  # the failed hidden check's message
    assert "for shape in" not in html and "make_MLP(*shape)" not in html  # its code
    assert "hidden check" in html


def test_graded_notebook_holds_the_masters_tests_not_the_students(graded):
    course, _, _ = graded
    nb = nbformat.read(course.autograded_notebook("tests_edited"), as_version=4)
    sources = {c.id: c.source for c in nb.cells}
    assert "### BEGIN HIDDEN TESTS" in sources["test_get_num_params"]
    assert "all tests passed" not in "".join(sources.values())
