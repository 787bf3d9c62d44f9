"""Shared fixtures: the course, throwaway copies of it, and the master's code run in-process."""
from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib
import nbformat
import pytest

from dvwcourse.settings import Course, load_course

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
COURSE_FILES = ["course.yml", "nbgrader_config.py", "source", "release", "samples"]


@pytest.fixture(scope="session")
def course() -> Course:
    return load_course(REPO)


def copy_course(destination: Path) -> Course:
    """A copy of the course's inputs (no gradebook, no graded work) to grade in without side effects."""
    for name in COURSE_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, destination / name)
        else:
            shutil.copy2(source, destination / name)
    return load_course(destination)


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
        code = "\n".join(line for line in sources[cell_id].splitlines() if not line.lstrip().startswith("%"))
        exec(compile(code, f"<{cell_id}>", "exec"), namespace)
    return namespace


SETUP_CELLS = ["setup_imports", "setup_seed", "setup_compare", "setup_checks", "setup_plots", "make_mlp"]
FUNCTION_CELLS = ["get_num_params", "initialize_layers", "make_data", "train_model", "compute_loss"]


@pytest.fixture
def master(course: Course) -> dict:
    """The master's setup and solution functions, freshly defined."""
    return run_master_cells(course, SETUP_CELLS + FUNCTION_CELLS)
