"""The visible checks a student runs: they catch answers that do nothing, and name what is missing."""
from __future__ import annotations

import nbformat
import numpy as np
import pytest

from conftest import SETUP_CELLS, run_cells
from dvwcourse.cells import cell_by_grade_id


def visible_test(course, grade_id: str) -> str:
    release = nbformat.read(course.release_notebook, as_version=4)
    return cell_by_grade_id(release, grade_id).source


@pytest.fixture
def library(course):
    return run_cells(course.release_notebook, SETUP_CELLS)


@pytest.mark.parametrize("grade_id, lazy_answer", [
    ("test_train_model", "def train_model(net, X, y, n_epochs, lr, progressbar=True):\n    return np.zeros(n_epochs)"),
    ("test_compute_loss", "def compute_loss(net, X, y):\n    return 0.0"),
])
def test_visible_checks_fail_an_answer_that_does_no_work(course, library, grade_id, lazy_answer):
    exec(lazy_answer, library)
    with pytest.raises(AssertionError):
        exec(visible_test(course, grade_id), library)


def test_visible_checks_pass_the_masters_answers(course, library):
    for grade_id in ["train_model", "compute_loss"]:
        run_cells(course.source_notebook, [grade_id], library)
        exec(visible_test(course, f"test_{grade_id}"), library)


def test_a_missing_name_fails_locally_with_the_name_to_use(course, library):
    with pytest.raises(AssertionError, match="Not defined: teacher.*use them exactly"):
        library.update(sigma_teacher=2.0, X_train=np.zeros(1), y_train=np.zeros(1), X_test=np.zeros(1), y_test=np.zeros(1))
        exec(visible_test(course, "test_learning_problem"), library)
