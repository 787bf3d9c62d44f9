"""nbgrader's cell vocabulary, in one place: graded, answer and test cells, found by grade_id.

Built on nbgrader.utils (is_grade, is_solution, is_locked). Cells are always looked up by their
nbgrader grade_id, never by cell id: JupyterLab and the Create Assignment toolbar change cell ids.
Every other module asks here instead of reading `cell.metadata["nbgrader"]` itself.
"""
from __future__ import annotations

from typing import Any

from nbformat import NotebookNode
from nbgrader.utils import is_grade, is_locked, is_solution

__all__ = ["is_grade", "is_locked", "is_solution", "grade_id", "raw_grade_id", "is_test_cell", "is_written_answer",
           "graded_cells", "cell_by_grade_id", "points", "set_points", "drop_empty_metadata", "raw_claims_course_cell"]


def _metadata(cell: NotebookNode) -> dict[str, Any]:
    return cell.metadata.get("nbgrader", {})


def grade_id(cell: NotebookNode) -> str | None:
    """The cell's nbgrader grade_id, None for a cell nbgrader does not know."""
    return _metadata(cell).get("grade_id")


def raw_grade_id(cell: object) -> str | None:
    """grade_id of a cell from an untrusted file's JSON (any shape): never raises."""
    if not isinstance(cell, dict):
        return None
    metadata = cell.get("metadata")
    nbgrader = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    if isinstance(nbgrader, dict) and isinstance(nbgrader.get("grade_id"), str):
        return nbgrader["grade_id"]
    return None


def raw_claims_course_cell(cell: object) -> bool:
    """Whether a cell from an untrusted file says it is a locked or test cell (not an answer): never raises."""
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    nbgrader = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    if not isinstance(nbgrader, dict):
        return False
    return bool(nbgrader.get("locked") or nbgrader.get("grade")) and not nbgrader.get("solution")


def is_test_cell(cell: NotebookNode) -> bool:
    """An autograded test cell: graded code that is not an answer."""
    return cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)


def is_written_answer(cell: NotebookNode) -> bool:
    """An answer that a person grades (graded and an answer: the written discussions)."""
    return is_grade(cell) and is_solution(cell)


def graded_cells(nb: NotebookNode) -> dict[str, NotebookNode]:
    """Every cell that carries points, by grade_id."""
    return {grade_id(cell): cell for cell in nb.cells if is_grade(cell)}


def cell_by_grade_id(nb: NotebookNode, wanted: str) -> NotebookNode | None:
    return next((cell for cell in nb.cells if grade_id(cell) == wanted), None)


def points(cell: NotebookNode) -> float | None:
    return _metadata(cell).get("points")


def set_points(cell: NotebookNode, value: float) -> None:
    cell.metadata.nbgrader["points"] = value


def drop_empty_metadata(cell: NotebookNode) -> None:
    """Remove an empty `nbgrader` entry (what nbgrader's DeduplicateIds leaves on a demoted copy)."""
    if cell.metadata.get("nbgrader") == {}:
        del cell.metadata["nbgrader"]
