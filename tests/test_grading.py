"""Grading with real nbgrader (autograde, feedback, CSV export) on sample and tampered submissions."""
from __future__ import annotations

import csv
import json

import nbformat
import pytest

from conftest import copy_course
from corpus import FUNCTIONS, delete_tests, duplicate_tests, edit_tests
from dvwcourse import stock_grading
from dvwcourse.cells import is_test_cell
from dvwcourse.samples import fill_answers, sample_answers

pytestmark = pytest.mark.integration  # starts nbgrader and kernels

# Two wrong functions in one submission, under nbgrader's own autograde (the corpus checks every function alone under
# safe grading; each submission here costs a whole notebook run).
STOCK_MISTAKES = ["make_data", "train_model"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A course copy with a batch of submissions, autograded once for all tests of this module."""
    course = copy_course(tmp_path_factory.mktemp("course"))
    from dvwcourse.release import build_release

    build_release(course)
    release = nbformat.read(course.release_notebook, as_version=4)
    correct = sample_answers(course, "alternative_solutions")
    mistakes = sample_answers(course, "mistakes")
    # Correct, but torch prints a UserWarning to stderr inside test_compute_loss.
    warning = "def compute_loss(net, X, y):\n    return float(nn.functional.mse_loss(net(X), y))"
    submissions = {
        "correct": fill_answers(release, {**correct, "compute_loss": warning}, "test"),
        "blank": fill_answers(release, {}, "test"),
        "blank_tests_edited": edit_tests(fill_answers(release, {}, "test")),
        "blank_tests_deleted": delete_tests(fill_answers(release, {}, "test")),
        "blank_tests_duplicated": duplicate_tests(fill_answers(release, {}, "test")),
        "mistakes_tests_edited": edit_tests(fill_answers(release, {**correct, **mistakes}, "test")),
    }
    submissions["mistakes"] = fill_answers(release, {**correct, **{f: mistakes[f] for f in STOCK_MISTAKES}}, "test")
    for student, nb in submissions.items():
        path = course.submitted_notebook(student)
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(nb), encoding="utf-8")  # as submitted: duplicates and all
    students = list(submissions)
    outcomes = {o.student: o for o in stock_grading.autograde(course, students)}
    rows = {row["student"]: row for row in stock_grading.gradebook_scores(course, students)}
    return course, outcomes, rows


def auto_scores(course, row):
    return {name: row[name] for name in course.points if name.startswith("test_")}


def test_every_submission_is_graded(graded):
    _, outcomes, _ = graded
    assert all(o.graded for o in outcomes.values()), {s: o.error for s, o in outcomes.items() if not o.graded}


def test_correct_submission_written_differently_gets_every_point(graded):
    course, _, rows = graded
    assert auto_scores(course, rows["correct"]) == {k: v for k, v in course.points.items() if k.startswith("test_")}
    assert rows["correct"]["auto_score"] == rows["correct"]["auto_max"] == 24


def test_a_torch_warning_in_a_test_cell_costs_nothing(graded):
    course, _, rows = graded
    assert rows["correct"]["auto_score"] == 24  # its compute_loss makes torch warn
    graded_nb = nbformat.read(course.autograded_notebook("correct"), as_version=4)
    (cell,) = [c for c in graded_nb.cells if c.id == "test_compute_loss"]
    assert not any(o.get("name") == "stderr" for o in cell.outputs)  # dropped by IgnorePattern


def test_untouched_release_gets_nothing(graded):
    course, _, rows = graded
    assert set(auto_scores(course, rows["blank"]).values()) == {0}


def test_wrong_functions_lose_their_own_points_only(graded):
    course, _, rows = graded
    scores = auto_scores(course, rows["mistakes"])
    lost = {name for name, score in scores.items() if score < course.points[name]}
    assert lost == {f"test_{function}" for function in STOCK_MISTAKES}
    assert all(scores[f"test_{function}"] == 0 for function in STOCK_MISTAKES)


@pytest.mark.parametrize("student", ["blank_tests_edited", "blank_tests_deleted", "blank_tests_duplicated"])
def test_tampering_with_test_cells_gains_nothing(graded, student):
    course, _, rows = graded
    assert set(auto_scores(course, rows[student]).values()) == {0}
    restored = nbformat.read(course.autograded_notebook(student), as_version=4)
    assert sum(1 for c in restored.cells if is_test_cell(c)) == 11  # every test is back, with its own source


def test_editing_tests_does_not_hide_wrong_functions(graded):
    course, _, rows = graded
    scores = auto_scores(course, rows["mistakes_tests_edited"])
    assert all(scores[f"test_{f}"] == 0 for f in FUNCTIONS)


def test_feedback_and_csv_export(graded, tmp_path):
    course, _, _ = graded
    assert stock_grading.generate_feedback(course, ["correct", "blank"]) == []
    total = sum(course.points.values())
    for student, score in [("correct", 24.0), ("blank", 0.0)]:
        html = (course.root / "feedback" / student / course.assignment_id / f"{course.notebook}.html").read_text()
        assert f"(Score: {score:.1f} / {total:.1f})" in html  # the notebook's total, as nbgrader's feedback states it
    exported = stock_grading.export_grades(course, tmp_path / "grades.csv")
    rows = {r["student_id"]: r for r in csv.DictReader(exported.open())}
    assert float(rows["correct"]["score"]) == 24 and float(rows["blank"]["score"]) == 0
    assert float(rows["correct"]["max_score"]) == sum(course.points.values())


def test_benign_warning_pattern_matches_torch_warnings_only():
    import re

    from dvwcourse.nbgrader_settings import benign_stderr_pattern

    pattern = benign_stderr_pattern(("UserWarning", "DeprecationWarning"))
    torch_warning = ("/srv/x.py:3: UserWarning: Converting a tensor with requires_grad=True to a scalar may lead to "
                     "unexpected behavior.\nConsider using tensor.detach() first. (Triggered internally at x.cpp:822.)\n"
                     "  return float(loss)\n")
    assert re.search(pattern, torch_warning)
    assert not re.search(pattern, "some message a student printed\n")
    assert not re.search(pattern, "RuntimeError: UserWarning: not at the start\n".replace("RuntimeError", "x\nRuntimeError"))
