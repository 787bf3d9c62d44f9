"""Build the student release from the master notebooks with nbgrader."""
from __future__ import annotations

import nbformat

from .cells import graded_cells, points, set_points
from .nbgrader_api import make_api
from .settings import Course, CourseError, assignment_views


def sync_points(course: Course) -> bool:
    """Copy the points of course.yml into the master's graded cells; True if the master changed.

    The assignment's points cover all its notebooks: each graded cell needs points, each point entry a cell in one
    of them, and a grade_id names one cell of the assignment (the gradebook's columns and course.yml's keys)."""
    cells_by_notebook = {view.notebook: graded_cells(nbformat.read(view.source_notebook, as_version=4))
                         for view in assignment_views(course, course.assignment_id)}
    repeated = sorted({gid for name, cells in cells_by_notebook.items() for gid in cells
                       if any(gid in other for other_name, other in cells_by_notebook.items() if other_name != name)})
    everywhere = set().union(*cells_by_notebook.values())
    unknown = sorted(set(course.points) - everywhere)
    path = course.source_notebook
    unpriced = sorted(set(cells_by_notebook[course.notebook]) - set(course.points))
    if unknown or unpriced or repeated:
        raise CourseError(
            f"{course.root / 'course.yml'}: points do not match the graded cells of {path}"
            f" (no such cell: {unknown}; cells without points: {unpriced}"
            + (f"; in more than one notebook of {course.assignment_id}: {repeated}" if repeated else "") + ")"
        )
    nb = nbformat.read(path, as_version=4)
    changed = False
    for grade_id, cell in graded_cells(nb).items():
        if points(cell) != course.points[grade_id]:
            set_points(cell, course.points[grade_id])
            changed = True
    if changed:
        nbformat.write(nb, path)
    return changed


def build_release(course: Course) -> None:
    """Sync points into each of the assignment's notebooks, then run nbgrader's generate_assignment (which also
    records the assignment in the gradebook)."""
    for view in assignment_views(course, course.assignment_id):
        sync_points(view)
    result = make_api(course).generate_assignment(course.assignment_id, force=True)
    if not result["success"]:
        raise CourseError(f"nbgrader generate_assignment failed for {course.source_notebook.parent}:\n{result['error']}\n{result['log']}")
