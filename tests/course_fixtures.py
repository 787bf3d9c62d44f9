"""Small courses for tests: nbgrader cells from plain text, a single-assignment course.yml, and the
assignment fixtures of tests/fixtures/ written into a course folder."""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import yaml

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# nbgrader's metadata for each kind of cell (docs/authoring.md, "The kinds of cells").
KINDS = {  # kind: (cell type, grade, locked, solution)
    "text": ("markdown", False, True, False),
    "library": ("code", False, True, False),
    "locked": ("code", False, True, False),
    "answer": ("code", False, False, True),
    "test": ("code", True, True, False),
    "written": ("markdown", True, False, True),
}


def nbgrader_cell(kind: str, cell_id: str, source: str, points: float | None = None) -> nbformat.NotebookNode:
    """A master cell of `kind` whose id and grade_id are `cell_id`."""
    cell_type, grade, locked, solution = KINDS[kind]
    make = nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell
    cell = make(source.strip("\n"), id=cell_id)
    cell.metadata["nbgrader"] = {"grade": grade, "grade_id": cell_id, "locked": locked, "schema_version": 3,
                                 "solution": solution, "task": False}
    if grade:
        cell.metadata["nbgrader"]["points"] = points
    return cell


def new_master(cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    return nb


def shipped_cell(cell_id: str) -> nbformat.NotebookNode:
    """A cell of the shipped master (depth_vs_width), e.g. the helper cells every assignment copies."""
    nb = nbformat.read(REPO / "source" / "depth_vs_width" / "depth_vs_width.ipynb", as_version=4)
    return next(cell for cell in nb.cells if cell.id == cell_id)


def write_single_course(root: Path, course_id: str, assignment_id: str, notebook: str, title: str,
                        points: dict[str, float]) -> Path:
    """course.yml in today's single-assignment form (the repository's budget section, whose variable the budget
    helper reads; the schema's defaults for everything else) and the repository's nbgrader_config.py, in `root`."""
    root.mkdir(parents=True, exist_ok=True)
    budget = yaml.safe_load((REPO / "course.yml").read_text())["budget"]
    settings = {"course_id": course_id, "assignment": {"id": assignment_id, "notebook": notebook, "title": title},
                "points": points, "budget": budget}
    (root / "course.yml").write_text(yaml.safe_dump(settings, sort_keys=False))
    shutil.copy2(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    return root


def fixture_entry(assignment_id: str) -> dict:
    """The fixture's entry in course.yml's multi-assignment form (its assignment.yml)."""
    return yaml.safe_load((FIXTURES / assignment_id / "assignment.yml").read_text())


def fixture_samples(assignment_id: str) -> Path:
    """The fixture's sample answers (`# %% <grade_id>` files, dvwcourse.samples' format)."""
    return FIXTURES / assignment_id / "samples"


def copy_fixture_source(root: Path, assignment_id: str) -> Path:
    """The fixture's master into `root/source/<assignment_id>/`; returns that folder."""
    target = root / "source" / assignment_id
    shutil.copytree(FIXTURES / assignment_id / "source" / assignment_id, target)
    return target


def write_fixture_course(root: Path, assignment_id: str, course_id: str = "fixture-course") -> Path:
    """A course folder holding only the fixture assignment, with a single-assignment course.yml."""
    entry = fixture_entry(assignment_id)
    (notebook,) = entry["notebooks"]  # the single form has one notebook per assignment
    copy_fixture_source(root, assignment_id)
    return write_single_course(root, course_id, assignment_id, notebook, entry["title"], entry["points"])
