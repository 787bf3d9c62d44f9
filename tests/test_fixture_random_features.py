"""The second assignment, tests/fixtures/random_features (authored from docs/authoring.md), in a course of its own:
it releases, its master earns every automatic point and its stub does not, and two samples grade to exact scores."""
from __future__ import annotations

import csv

import nbformat
import pytest

from conftest import require_sandbox
from course_fixtures import fixture_entry, fixture_samples, write_fixture_course
from dvwcourse import cli
from dvwcourse.cells import graded_cells, is_solution
from dvwcourse.samples import fill_answers, read_sample_answers
from dvwcourse.settings import load_course

ASSIGNMENT = "random_features"
# Automatic points: Ex 1 random_features 2, Ex 2 fit_readout 3, Ex 3 the sweep 3 (the written answer, 2, is by hand).
EXPECTED = {"correct-student": {"score": 8.0, "test_random_features": 2.0, "test_fit_readout": 3.0, "test_feature_sweep": 3.0},
            "relu-mistake": {"score": 6.0, "test_random_features": 0.0, "test_fit_readout": 3.0, "test_feature_sweep": 3.0}}


def test_the_fixture_is_a_clean_nbgrader_master(tmp_path):
    course = load_course(write_fixture_course(tmp_path, ASSIGNMENT))
    nb = nbformat.read(course.source_notebook, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    assert all(c.id == c.metadata["nbgrader"]["grade_id"] for c in nb.cells)  # stable ids, as the shipped master
    assert set(graded_cells(nb)) == set(fixture_entry(ASSIGNMENT)["points"])
    answers = {c.id for c in nb.cells if is_solution(c) and c.cell_type == "code"}
    for name in ["alternative_solutions", "mistakes"]:
        assert set(read_sample_answers(fixture_samples(ASSIGNMENT) / f"{name}.py")) == answers, name


@pytest.mark.integration
def test_release_validate_and_grade_the_samples(tmp_path, monkeypatch, capsys):
    require_sandbox()
    root = write_fixture_course(tmp_path / "course", ASSIGNMENT)
    monkeypatch.chdir(root)
    assert cli.main(["release"]) == 0
    course = load_course(root)

    assert cli.main(["validate", str(course.source_notebook)]) == 0
    assert "OK (8 / 8)" in capsys.readouterr().out
    assert cli.main(["validate", str(course.release_notebook)]) == 1
    assert "FAILED (0 / 8)" in capsys.readouterr().out

    release = nbformat.read(course.release_notebook, as_version=4)
    incoming = root / "incoming"
    incoming.mkdir()
    for student, name in [("correct-student", "alternative_solutions"), ("relu-mistake", "mistakes")]:
        answers = read_sample_answers(fixture_samples(ASSIGNMENT) / f"{name}.py")
        nbformat.write(fill_answers(release, answers, name), incoming / f"{student}.ipynb")
    csv_path = root / "grading-results.csv"
    status = cli.main(["grade", str(incoming), "--workers", "2", "--csv", str(csv_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    with open(csv_path, newline="") as results:
        scores = {row["student"]: {key: float(row[key]) for key in EXPECTED[row["student"]]} for row in csv.DictReader(results)}
    assert scores == EXPECTED, out
