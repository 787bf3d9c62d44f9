"""The student release: current, free of solutions and hidden tests, stubs that raise, valid metadata."""
import subprocess
import sys

import nbformat
import pytest
from nbgrader.nbgraderformat import MetadataValidator

from conftest import REPO, SETUP_CELLS, copy_course, run_cells
from dvwcourse.cells import grade_id, graded_cells, is_solution, is_test_cell, points
from dvwcourse.release import build_release

HIDDEN = "### BEGIN HIDDEN TESTS"


@pytest.fixture(scope="module")
def notebooks(course):
    return nbformat.read(course.source_notebook, as_version=4), nbformat.read(course.release_notebook, as_version=4)


def answer_cells(nb):
    return {c.id: c for c in nb.cells if is_solution(c)}


def autograded_test_cells(nb):
    return {c.id: c for c in nb.cells if is_test_cell(c)}


def comparable(nb):
    return [(c.id, c.cell_type, c.source, c.metadata) for c in nb.cells]


@pytest.mark.integration
def test_release_is_what_nbgrader_builds_from_source(tmp_path, course):
    fresh = copy_course(tmp_path)
    build_release(fresh)
    rebuilt = nbformat.read(fresh.release_notebook, as_version=4)
    committed = nbformat.read(course.release_notebook, as_version=4)
    assert comparable(rebuilt) == comparable(committed), "release/ is stale: run `dvwcourse release` and commit it"


def test_notebooks_are_stored_without_outputs(course):
    for path in [course.source_notebook, course.release_notebook]:
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code"), path


def test_cell_ids_are_stable_names(notebooks):
    for nb in notebooks:
        ids = [c.id for c in nb.cells]
        assert len(set(ids)) == len(ids)
        for cell in nb.cells:
            if grade_id(cell) is not None:
                assert cell.id == grade_id(cell)


def test_release_has_no_solutions_and_no_hidden_tests(notebooks):
    source, release = notebooks
    text = "\n".join(c.source for c in release.cells)
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    answers = "\n".join(c.source for c in answer_cells(release).values())
    for cell_id, cell in answer_cells(source).items():
        solution = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
        for line in solution.splitlines():
            if len(line.strip()) > 12:  # distinctive lines only, not `return X, y` alone
                assert line.strip() not in answers, f"{cell_id}: solution line leaked: {line.strip()}"
    for cell_id, cell in autograded_test_cells(source).items():
        if HIDDEN in cell.source:
            hidden = cell.source.split(HIDDEN)[1].split("### END HIDDEN TESTS")[0]
            assert hidden.strip() not in text


def test_every_code_stub_raises_not_implemented(course, notebooks):
    _, release = notebooks
    stubs = [c.id for c in answer_cells(release).values() if c.cell_type == "code"]
    assert len(stubs) == 12
    namespace = run_cells(course.release_notebook, SETUP_CELLS)
    namespace.update(n_in=5, W_student=5, D_student=5)  # what locked cells define before the Exercise 6 stub
    for cell_id in stubs:
        before = set(namespace)
        try:
            run_cells(course.release_notebook, [cell_id], namespace)
        except NotImplementedError:
            continue  # a script cell raises as it runs
        (function_name,) = set(namespace) - before  # a function stub raises when called
        function = namespace[function_name]
        with pytest.raises(NotImplementedError):
            function(*[None] * function.__code__.co_argcount)


def test_visible_tests_are_released_verbatim(notebooks):
    source, release = notebooks
    released = {c.id: c.source for c in release.cells}
    tests = autograded_test_cells(source)
    assert len(tests) == 11
    for cell_id, cell in tests.items():
        assert released[cell_id].strip() == cell.source.split(HIDDEN)[0].strip()
        assert "check(" in released[cell_id]


def test_nbgrader_metadata_validates(notebooks):
    for nb in notebooks:
        MetadataValidator().validate_nb(nb)


def test_points_come_from_course_yml(course, notebooks):
    source, release = notebooks
    for nb in notebooks:
        assert {k: points(c) for k, c in graded_cells(nb).items()} == course.points


@pytest.mark.integration
def test_validate_exit_status_is_honest(course):
    # nbgrader's own `validate` exits 0 even when tests fail; ours exits 1 on the untouched release.
    run = subprocess.run([sys.executable, "-m", "dvwcourse", "validate", str(course.release_notebook)],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAILED" in run.stdout and "NotImplementedError" in run.stdout
