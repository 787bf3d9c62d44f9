"""Instructors edit the master in JupyterLab: cells are found by nbgrader grade_id whatever their cell
ids, and an exercise added the way nbgrader's Create Assignment toolbar writes it is released and graded."""
from __future__ import annotations

import uuid

import nbformat
import pytest

from conftest import copy_course
from dvwcourse.cells import grade_id
from dvwcourse.intake import find_submissions
from dvwcourse.release import build_release
from dvwcourse.safe_grading import Grader
from dvwcourse.samples import fill_answers, sample_answers
from dvwcourse.settings import load_course

ANSWER_ID, TEST_ID = "cell-8f2a9c1d3e4b5a6f", "cell-1e2d3c4b5a697887"  # grade ids as the toolbar makes them
SQUARE_SOLUTION = "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION"
SQUARE_TEST = (
    "require(\"square\")\n"
    "check(\"square(3)\", square(3), expect=9, msg=\"Multiply the number by itself.\")\n"
    "### BEGIN HIDDEN TESTS\n"
    "check(\"square(-4)\", square(-4), expect=16, msg=\"Negative numbers too.\")\n"
    "### END HIDDEN TESTS"
)


def toolbar_cell(source: str, grade_id: str, **flags) -> nbformat.NotebookNode:
    """A code cell with the metadata nbgrader's Create Assignment toolbar writes, and a random cell id."""
    metadata = {"nbgrader": {"grade": False, "locked": False, "solution": False, "task": False, "schema_version": 3,
                             "grade_id": grade_id, **flags}}
    return nbformat.v4.new_code_cell(source, id=uuid.uuid4().hex[:8], metadata=metadata)


@pytest.fixture(scope="module")
def edited(tmp_path_factory):
    root = tmp_path_factory.mktemp("edited")
    course = copy_course(root)
    master = nbformat.read(course.source_notebook, as_version=4)
    for cell in master.cells:  # JupyterLab gives new cells random ids; these two keep only their grade_ids
        if grade_id(cell) in ("curve_length", "test_curve_length"):
            cell.id = str(uuid.uuid4())
    master.cells += [
        nbformat.v4.new_markdown_cell("### Exercise 11: Squares\n\nWrite `square(x)`.", id=uuid.uuid4().hex[:8]),
        toolbar_cell(SQUARE_SOLUTION, ANSWER_ID, solution=True),
        toolbar_cell(SQUARE_TEST, TEST_ID, grade=True, locked=True, points=1),
    ]
    nbformat.write(master, course.source_notebook)
    text = (course.root / "course.yml").read_text().replace("  test_curve_length: 2", f"  test_curve_length: 2\n  {TEST_ID}: 1")
    (course.root / "course.yml").write_text(text)
    course = load_course(course.root)
    build_release(course)
    release = nbformat.read(course.release_notebook, as_version=4)
    correct = sample_answers(course, "alternative_solutions")
    incoming = root / "incoming"
    incoming.mkdir()
    for student, square in [("right", "def square(x):\n    return x ** 2"), ("wrong", "def square(x):\n    return 2 * x")]:
        nbformat.write(fill_answers(release, {**correct, ANSWER_ID: square}, "test"), incoming / f"{student}.ipynb")
    reports = {r.student: r for r in Grader(course).grade_all(find_submissions(course, incoming))}
    return course, release, reports


@pytest.mark.integration
def test_the_release_of_a_toolbar_exercise_has_a_stub_and_no_hidden_check(edited):
    _, release, _ = edited
    sources = {grade_id(c): c.source for c in release.cells}
    assert "raise NotImplementedError()" in sources[ANSWER_ID] and "x * x" not in sources[ANSWER_ID]
    assert "square(-4)" not in sources[TEST_ID] and "square(3)" in sources[TEST_ID]


@pytest.mark.integration
def test_cells_with_new_ids_and_a_new_exercise_are_graded_by_grade_id(edited):
    _, _, reports = edited
    assert reports["right"].status == "graded" and (reports["right"].score, reports["right"].max_score) == (25, 25)
    lost = {cell.grade_id for cell in reports["wrong"].cells if cell.points < cell.max_points}
    assert lost == {TEST_ID} and reports["wrong"].score == 24
