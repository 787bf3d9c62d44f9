"""The second assignment, tests/fixtures/random_features (authored from docs/authoring.md): a clean nbgrader master
whose points match its cells and whose samples answer every answer cell. It is released, validated and graded in a
course with the shipped assignment by tests/test_assignments.py."""
from __future__ import annotations

import nbformat

from course_fixtures import fixture_entry, fixture_samples, write_fixture_course
from dvwcourse.cells import graded_cells, is_solution
from dvwcourse.samples import read_sample_answers
from dvwcourse.settings import load_course

ASSIGNMENT = "random_features"


def test_the_fixture_is_a_clean_nbgrader_master(tmp_path):
    course = load_course(write_fixture_course(tmp_path, ASSIGNMENT))
    nb = nbformat.read(course.source_notebook, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    assert all(c.id == c.metadata["nbgrader"]["grade_id"] for c in nb.cells)  # stable ids, as the shipped master
    assert set(graded_cells(nb)) == set(fixture_entry(ASSIGNMENT)["points"])
    answers = {c.id for c in nb.cells if is_solution(c) and c.cell_type == "code"}
    for name in ["alternative_solutions", "mistakes"]:
        assert set(read_sample_answers(fixture_samples(ASSIGNMENT) / f"{name}.py")) == answers, name
