"""Build the student release from the master notebooks with nbgrader."""
from __future__ import annotations

from collections import Counter

import nbformat

from .cells import graded_cells, points, set_points
from .nbgrader_api import make_api
from .settings import Course, CourseError, assignment_views


def sync_points(course: Course) -> None:
    """Copy the points of course.yml into the graded cells of each of the assignment's masters (each read once,
    written only if it changed).

    The assignment's points cover all its notebooks: each graded cell needs points, each point entry a cell in one
    of them, and a grade_id names one cell of the assignment (the gradebook's columns and course.yml's keys)."""
    masters = {view.source_notebook: nbformat.read(view.source_notebook, as_version=4)
               for view in assignment_views(course, course.assignment_id)}
    cells = {path: graded_cells(nb) for path, nb in masters.items()}
    found = Counter(grade_id for graded in cells.values() for grade_id in graded)
    unknown = sorted(set(course.points) - set(found))
    repeated = sorted(grade_id for grade_id, count in found.items() if count > 1)
    for path, graded in cells.items():
        unpriced = sorted(set(graded) - set(course.points))
        if unknown or unpriced or repeated:
            raise CourseError(
                f"{course.root / 'course.yml'}: points do not match the graded cells of {path}"
                f" (no such cell: {unknown}; cells without points: {unpriced}"
                + (f"; in more than one notebook of {course.assignment_id}: {repeated}" if repeated else "") + ")"
            )
    for path, nb in masters.items():
        changed = False
        for grade_id, cell in cells[path].items():
            if points(cell) != course.points[grade_id]:
                set_points(cell, course.points[grade_id])
                changed = True
        if changed:
            nbformat.write(nb, path)


def build_release(course: Course) -> None:
    """Sync points into each of the assignment's notebooks, then run nbgrader's generate_assignment (which also
    records the assignment in the gradebook)."""
    sync_points(course)
    result = make_api(course).generate_assignment(course.assignment_id, force=True)
    if not result["success"]:
        raise CourseError(f"nbgrader generate_assignment failed for {course.source_notebook.parent}:\n{result['error']}\n{result['log']}")
