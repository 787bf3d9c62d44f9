"""Shared fixtures: the course, throwaway copies of it, and the master's code run in-process."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import matplotlib
import nbformat
import pytest

from corpus import CASES, Case, build
from dvwcourse.assemble import read_answers
from dvwcourse.course_copy import copy_course as copy_inputs
from dvwcourse.intake import find_submissions
from dvwcourse.release import build_release
from dvwcourse.results import format_reports
from dvwcourse.safe_grading import Grader
from dvwcourse.samples import sample_answers
from dvwcourse.kernel.sandbox import bubblewrap_works
from dvwcourse.settings import Course, load_course
from dvwcourse.trusted_tests import strip_magics
from dvwcourse.workers import LocalWorkers

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def course() -> Course:
    return load_course(REPO)


def copy_course(destination: Path) -> Course:
    """A copy of this repository's course inputs, to grade in without side effects."""
    return copy_inputs(load_course(REPO), destination)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temporary folder with a short path, for TMPDIR: kernels' sockets live below it, a Unix socket's path
    holds 107 bytes, and pytest-xdist's tmp_path is deep."""
    folder = Path(tempfile.mkdtemp(prefix="dvw-t-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def course_copy(tmp_path: Path) -> Course:
    return copy_course(tmp_path)


def cell_sources(path: Path) -> dict[str, str]:
    """Source of every cell of a notebook, by cell id."""
    return {cell.id: cell.source for cell in nbformat.read(path, as_version=4).cells}


def run_master_cells(course: Course, cell_ids: list[str], namespace: dict | None = None) -> dict:
    """Execute cells of the master notebook in this process (IPython magics dropped); returns the namespace."""
    return run_cells(course.source_notebook, cell_ids, namespace)


def run_cells(path: Path, cell_ids: list[str], namespace: dict | None = None) -> dict:
    """Execute cells of a notebook in this process (IPython magics dropped); returns the namespace."""
    sources = cell_sources(path)
    namespace = {} if namespace is None else namespace
    for cell_id in cell_ids:
        exec(compile(strip_magics(sources[cell_id]), f"<{cell_id}>", "exec"), namespace)
    return namespace


SETUP_CELLS = ["setup_imports", "setup_seed", "setup_compare", "setup_checks", "setup_plots", "make_mlp"]
FUNCTION_CELLS = ["get_num_params", "initialize_layers", "make_data", "train_model", "compute_loss"]


@pytest.fixture
def master(course: Course) -> dict:
    """The master's setup and solution functions, freshly defined."""
    return run_master_cells(course, SETUP_CELLS + FUNCTION_CELLS)


ARTIFACTS = REPO / "test-artifacts"


def tighten_limits(course_root: Path, cell_seconds: int = 20) -> None:
    """Shorter timeouts than the course's, so runaway cases end quickly. 20 s still leaves the slowest honest cell
    (deep_student, about 3 s alone) room while two test processes' kernels share the cores."""
    path = course_root / "course.yml"
    text = path.read_text().replace("cell_timeout_seconds: 60", f"cell_timeout_seconds: {cell_seconds}")
    path.write_text(text.replace("notebook_timeout_seconds: 240", "notebook_timeout_seconds: 180"))


def right_answers(course: Course, *grade_ids: str) -> dict[str, str]:
    """The correct sample's answers to `grade_ids` only."""
    correct = sample_answers(course, "alternative_solutions")
    return {grade_id: correct[grade_id] for grade_id in grade_ids}


def answering_only(course: Course, answers: dict[str, str]) -> bytes:
    """A submission that answers only `answers` (grade id: code), the release's stubs elsewhere: for tests about what
    happens around grading, which need not pay for a whole notebook's training."""
    release = nbformat.read(course.release_notebook, as_version=4)
    return build(Case("blank", answers), release, {}, {}, course.root)


def auto_points(course: Course, *grade_ids: str) -> float:
    """The points of the test cells of the answers `grade_ids`."""
    return sum(course.points[f"test_{grade_id}"] for grade_id in grade_ids)


def write_corpus(course: Course, folder: Path, names) -> None:
    release = nbformat.read(course.release_notebook, as_version=4)
    correct, mistakes = sample_answers(course, "alternative_solutions"), sample_answers(course, "mistakes")
    folder.mkdir()
    for name in names:
        (folder / f"{name}.ipynb").write_bytes(build(CASES[name], release, correct, mistakes, course.root))


LEAVE_OUT = "DVW_TESTS_LEAVE_OUT"  # e.g. "sandbox,browser": layers a run leaves out on purpose (docs/testing.md)


def require(layer: str, available: bool, missing: str) -> None:
    """A test that needs `layer` (sandbox, root, browser) fails with one line saying what is `missing` (never running a
    weaker version in its place), unless the run was told to leave that layer out."""
    if available:
        return
    if layer in os.environ.get(LEAVE_OUT, "").split(","):
        pytest.skip(f"needs the {layer}, left out on purpose ({LEAVE_OUT})")
    pytest.fail(f"{missing} (or set {LEAVE_OUT}={layer} to leave out the tests that need it)", pytrace=False)


def require_sandbox() -> None:
    require("sandbox", bubblewrap_works(), "bubblewrap does not work here: run bin/setup as root")


def require_root() -> None:
    require("root", os.geteuid() == 0, "this test needs root (it mounts file systems or creates OS users)")


def require_chromium() -> str:
    binary = shutil.which("chromium")
    require("browser", binary is not None, "chromium is not installed: run bin/setup --for-tests as root")
    return binary


@pytest.fixture
def working_sandbox() -> None:
    require_sandbox()


SHARED_MASTER_RUNS: list[Path] = []  # the folder where this test run's processes share the master's runs


@pytest.fixture(scope="session", autouse=True)
def shared_master_runs(tmp_path_factory) -> None:
    """One folder for the whole run: under pytest-xdist, the parent of every process's own temporary folder."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if "PYTEST_XDIST_WORKER" in os.environ else base) / "master-runs"
    folder.mkdir(exist_ok=True)
    SHARED_MASTER_RUNS[:] = [folder]


def share_master_run(course: Course) -> Grader:
    """Cache the master's run in `course`'s state folder, as a first batch leaves it: copied from an earlier course of
    this test run with the same fingerprint (the master's cache key: master, release, grading settings, isolation and
    grading code), else run here and offered to the next. A master costs a kernel and its training (about 14 s).
    Returns the grader that read it."""
    grader = Grader(course)
    name = f"master-checks-{grader.fingerprint}.json"
    shared, own = SHARED_MASTER_RUNS[0] / name, course.state_dir / name
    if shared.is_file() and not own.exists():
        own.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared, own)
    grader.master_data()  # checks what was copied; runs the master when there was nothing (or nothing valid)
    if not shared.exists():
        partial = shared.with_name(f"{name}.{os.getpid()}.partial")
        shutil.copyfile(own, partial)
        os.replace(partial, shared)
    return grader


@pytest.fixture(scope="session")
def graded_corpus(tmp_path_factory):
    """The corpus of tests/corpus.py graded safely once, two at a time, in the sandbox: (course, grader, reports by case)."""
    require_sandbox()
    root = tmp_path_factory.mktemp("safe")
    tighten_limits(copy_course(root).root)
    course = load_course(root)
    build_release(course)
    write_corpus(course, root / "incoming", list(CASES))
    grader = share_master_run(course)
    reports = {r.student: r for r in grader.grade_all(find_submissions(course, root / "incoming"), workers=LocalWorkers(2))}
    ARTIFACTS.mkdir(exist_ok=True)
    lines = [format_reports(list(reports.values())), "", f"isolation: {grader.launcher.description}"]
    lines += [f"{name}: {CASES[name].what}: {r.score:g}/{r.max_score:g}, {r.status}, {r.seconds:.1f} s" for name, r in reports.items()]
    (ARTIFACTS / "corpus-results.txt").write_text("\n".join(lines) + "\n")
    return course, grader, reports


@pytest.fixture(scope="session")
def cold_graded_corpus(graded_corpus) -> dict:
    """graded_corpus's submissions judged again on cold kernels (not recorded), one per distinct set of answers: the
    grader runs nothing else of a file, so cases that differ only in their test cells, metadata or kernelspec run the
    same code. Reports by case."""
    course, grader, _ = graded_corpus
    assert grader.warm is not None and not grader.warm.unavailable
    cold = Grader(replace(course, sandbox=replace(course.sandbox, warm_kernels=False)))
    assert cold.warm is None
    cold.use_master_data(grader.master_data())
    distinct = {}
    for submission in find_submissions(course, course.root / "incoming"):
        answers = read_answers(submission.notebook, grader.template)
        distinct.setdefault(json.dumps([sorted(answers.cells.items()), answers.unreadable]), submission)
    submissions = list(distinct.values())
    assert len(submissions) > len(CASES) * 3 // 4
    return {e.report.student: e.report for e in LocalWorkers(2).evaluate(cold.job(), submissions)}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items) -> None:
    """With pytest-xdist (`--dist loadgroup`, as bin/test runs it): a module's tests stay on one worker, so
    its module fixtures are built once; every test of the graded corpus shares the worker that grades it."""
    for item in items:
        group = "graded_corpus" if "graded_corpus" in item.fixturenames else item.module.__name__
        item.add_marker(pytest.mark.xdist_group(group))
