"""Build the student release from the master notebook with nbgrader."""
from __future__ import annotations

import nbformat

from .cells import graded_cells, points, set_points
from .nbgrader_api import make_api
from .settings import Course, CourseError


def sync_points(course: Course) -> bool:
    """Copy the points of course.yml into the master's graded cells; True if the master changed."""
    path = course.source_notebook
    nb = nbformat.read(path, as_version=4)
    cells = graded_cells(nb)
    unknown = sorted(set(course.points) - set(cells))
    unpriced = sorted(set(cells) - set(course.points))
    if unknown or unpriced:
        raise CourseError(
            f"{course.root / 'course.yml'}: points do not match the graded cells of {path}"
            f" (no such cell: {unknown}; cells without points: {unpriced})"
        )
    changed = False
    for grade_id, cell in cells.items():
        if points(cell) != course.points[grade_id]:
            set_points(cell, course.points[grade_id])
            changed = True
    if changed:
        nbformat.write(nb, path)
    return changed


def build_release(course: Course) -> None:
    """Sync points, then run nbgrader's generate_assignment (which also records the assignment)."""
    sync_points(course)
    result = make_api(course).generate_assignment(course.assignment_id, force=True)
    if not result["success"]:
        raise CourseError(f"nbgrader generate_assignment failed for {course.source_notebook}:\n{result['error']}\n{result['log']}")
