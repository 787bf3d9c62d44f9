"""Safe grading of the submission corpus (tests/corpus.py): every case gets exactly its expected score."""
from __future__ import annotations

import sqlite3

import nbformat
import pytest

from conftest import skip_unless_graded
from corpus import CASES
from dvwcourse.nbgrader_api import open_gradebook

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def graded(graded_corpus):
    return graded_corpus

@pytest.mark.parametrize("name", list(CASES))
def test_corpus_case_gets_its_expected_outcome(graded, name):
    course, grader, reports = graded
    skip_unless_graded(reports, name)
    case, report = CASES[name], reports[name]
    assert report.status == case.expect_status, report.notes
    assert report.max_score == 24
    lost = {cell.grade_id for cell in report.cells if cell.points < cell.max_points}
    if case.expect_lost is None:
        assert report.score == 0, {c.grade_id: c.points for c in report.cells}
    else:
        assert lost == case.expect_lost, [(c.grade_id, [k.message for k in c.checks if not k.passed]) for c in report.cells if c.grade_id in lost]
        assert all(cell.points in (0, cell.max_points) for cell in report.cells)


def test_every_case_is_in_the_gradebook_with_its_score(graded):
    course, _, reports = graded
    with open_gradebook(course) as gradebook:
        for name, report in reports.items():
            assert gradebook.find_submission(course.assignment_id, name).score == report.score


def test_student_code_could_not_touch_the_gradebook(graded):
    course, _, reports = graded
    skip_unless_graded(reports, "write_gradebook")
    tables = {row[0] for row in sqlite3.connect(course.root / "gradebook.db").execute("select name from sqlite_master")}
    assert "hacked" not in tables


def test_forged_check_records_are_flagged_for_review(graded):
    _, _, reports = graded
    assert any("never makes" in flag for flag in reports["forged_records"].flags)


def test_odd_files_say_what_happened(graded):
    course, _, reports = graded
    assert "invalid JSON" in reports["malformed_json"].notes[0]
    assert any("UTF-8" in note for note in reports["non_utf8"].notes)
    assert any("more than once" in note for note in reports["duplicated_answer"].notes)
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
