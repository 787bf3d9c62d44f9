"""Full marks for correct work whatever the random state (issue 25): the correct sample, copied with `set_seed(k)` at the
top of its three experiment cells (a line a student may well add), gets every automatic point in every copy. Its
networks start elsewhere in each copy, so this tests the hidden bounds on trained networks against the spread of
honest training; bench/training_bounds.py measures that spread over many more states."""
from __future__ import annotations

import json

import nbformat
import pytest

from conftest import copy_course, require_sandbox, share_master_run
from dvwcourse.intake import find_submissions
from dvwcourse.release import build_release
from dvwcourse.safe_grading import Grader
from dvwcourse.samples import fill_answers, sample_answers
from dvwcourse.settings import load_course
from dvwcourse.workers import LocalWorkers

pytestmark = pytest.mark.integration  # grades 12 notebooks in kernels

EXPERIMENT_CELLS = ["deep_student", "width_sweep", "quasi_linear_student"]
SEEDS = range(1001, 1013)  # fixed: the twelve copies (bench/training_bounds.py measures many more states)


def reseeded(answers: dict[str, str], seed: int) -> dict[str, str]:
    return {**answers, **{cell: f"set_seed({seed})\n{answers[cell]}" for cell in EXPERIMENT_CELLS}}


def test_every_reseeded_copy_of_a_correct_submission_gets_every_automatic_point(tmp_path):
    require_sandbox()
    root = copy_course(tmp_path).root
    course = load_course(root)
    build_release(course)
    release = nbformat.read(course.release_notebook, as_version=4)
    correct = sample_answers(course, "alternative_solutions")
    incoming = root / "incoming"
    incoming.mkdir()
    for seed in SEEDS:
        notebook = fill_answers(release, reseeded(correct, seed), "reseeded")
        (incoming / f"seed-{seed}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")

    share_master_run(course)
    reports = Grader(course).grade_all(find_submissions(course, incoming), workers=LocalWorkers(2))

    assert len(reports) == len(SEEDS) and all(report.status == "graded" for report in reports)
    lost = {report.student: {cell.grade_id: [check.name for check in cell.checks if not check.passed] or cell.error
                             for cell in report.cells if cell.grade_id.startswith("test_") and cell.points < cell.max_points}
            for report in reports}
    assert {student: cells for student, cells in lost.items() if cells} == {}
