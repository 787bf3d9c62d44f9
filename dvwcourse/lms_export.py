"""Grades an LMS imports, as nbgrader ExportPlugins: `nbgrader export --exporter dvwcourse.lms_export.CanvasExport`
and `dvwcourse export --format canvas` write the same file (likewise Moodle; `csv` is nbgrader's own CsvExportPlugin).

Every student of the gradebook (the roster's, and anyone who submitted) gets one row with the final score:
raw score (automatic and manual grades) minus the late penalty, as nbgrader's own CSV export computes it.
Formats, as the LMS documents its grade import:
* Canvas ("How do I import grades in the Gradebook?", Canvas Instructor Guide): the columns of a Canvas
  gradebook export, `Student, ID, SIS User ID, SIS Login ID, Section`, then one column per assignment named
  `<name> (<Canvas assignment id>)`; Canvas finds the student by ID (its user id: the roster's lms_user_id)
  or SIS User ID. A column without a Canvas id creates a new assignment on import.
* Moodle ("Grade import", MoodleDocs, CSV import): the columns of a Moodle grade export, `First name, Last
  name, ID number, Email address`, then the grade item; on import, map "Email address" to useremail (or
  "ID number" to useridnumber) and the grade column to the assignment's grade item.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import CsvExportPlugin, ExportPlugin
from traitlets import Unicode

from .atomic import write_text_atomic
from .nbgrader_api import course_config, in_gradebook
from .settings import Course, load_course

CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_COLUMNS = ["First name", "Last name", "ID number", "Email address"]


@dataclass(frozen=True)
class Standing:
    """One student's result on the assignment, as the gradebook holds it."""

    student: str
    first_name: str
    last_name: str
    email: str
    lms_user_id: str
    submitted: bool
    timestamp: datetime | None  # UTC
    duedate: datetime | None  # UTC, the student's extension included
    seconds_late: float
    raw_score: float  # automatic and manual grades
    late_penalty: float
    max_score: float
    needs_manual_grade: bool  # a written answer not graded yet

    @property
    def score(self) -> float:
        return max(0.0, self.raw_score - self.late_penalty)


def standings(gradebook: Gradebook, assignment_id: str) -> list[Standing]:
    """Every student in the gradebook, with or without a submission (no submission: 0), by student id."""
    assignment = gradebook.find_assignment(assignment_id)
    rows = []
    for student in sorted(gradebook.students, key=lambda s: s.id):
        names = dict(student=student.id, first_name=student.first_name or "", last_name=student.last_name or "",
                     email=student.email or "", lms_user_id=student.lms_user_id or "", max_score=assignment.max_score)
        try:
            submission = gradebook.find_submission(assignment_id, student.id)
        except MissingEntry:
            rows.append(Standing(**names, submitted=False, timestamp=None, duedate=assignment.duedate, seconds_late=0.0,
                                 raw_score=0.0, late_penalty=0.0, needs_manual_grade=False))
            continue
        rows.append(Standing(**names, submitted=True, timestamp=submission.timestamp, duedate=submission.duedate,
                             seconds_late=submission.total_seconds_late, raw_score=submission.score,
                             late_penalty=submission.late_submission_penalty or 0.0,
                             needs_manual_grade=submission.needs_manual_grade))
    return rows


def read_standings(course: Course) -> list[Standing]:
    return in_gradebook(course, lambda gradebook: standings(gradebook, course.assignment_id))


def points(value: float) -> str:
    return f"{round(value, 2):g}"


class CourseExport(ExportPlugin):
    """An LMS grade-import CSV of this course (course.yml from `course_root`, set by nbgrader_config.py): one column per
    assignment, in course.yml's order; nbgrader's `--assignment` (this plugin's `assignment`) keeps only those named."""

    course_root = Unicode("", help="the course folder (holding course.yml)").tag(config=True)
    default_name = "grades.csv"

    def assignments(self) -> list[Course]:
        """One view per assignment exported."""
        course = load_course(Path(self.course_root) if self.course_root else None)
        chosen = [a for a in course.assignment_ids if not self.assignment or a in self.assignment]
        return [load_course(course.root, assignment) for assignment in chosen]

    def export(self, gradebook: Gradebook) -> None:
        assignments = self.assignments()
        destination = Path(self.to) if self.to else (assignments[0].root if assignments else Path.cwd()) / self.default_name
        results = {course.assignment_id: standings(gradebook, course.assignment_id) for course in assignments}
        text = io.StringIO(newline="")
        csv.writer(text).writerows(self.rows(assignments, results))
        write_text_atomic(destination, text.getvalue())
        self.log.info("Exported grades to %s", destination)

    def rows(self, assignments: list[Course], results: dict[str, list[Standing]]) -> list[list[str]]:
        """The header, then one row per student of any assignment's standings, with a score per assignment."""
        by_student = {a.assignment_id: {s.student: s for s in results[a.assignment_id]} for a in assignments}
        students = sorted({student for standing in by_student.values() for student in standing})
        rows = [[*self.columns, *(self.column(a) for a in assignments)]]
        for student in students:
            theirs = [by_student[a.assignment_id].get(student) for a in assignments]
            known = next(s for s in theirs if s is not None)
            rows.append([*self.names(known), *(points(s.score) if s else "0" for s in theirs)])
        return rows

    columns: list[str] = []

    def column(self, course: Course) -> str:
        raise NotImplementedError

    def names(self, standing: Standing) -> list[str]:
        raise NotImplementedError


class CanvasExport(CourseExport):
    default_name = "canvas-grades.csv"
    columns = CANVAS_COLUMNS

    def column(self, course: Course) -> str:
        return f"{course.title} ({course.canvas_assignment_id})" if course.canvas_assignment_id else course.title

    def names(self, r: Standing) -> list[str]:
        name = ", ".join(part for part in (r.last_name, r.first_name) if part) or r.student
        return [name, r.lms_user_id, r.student, "", ""]


class MoodleExport(CourseExport):
    default_name = "moodle-grades.csv"
    columns = MOODLE_COLUMNS

    def column(self, course: Course) -> str:
        return f"Assignment: {course.title} (Real)"

    def names(self, r: Standing) -> list[str]:
        return [r.first_name, r.last_name, r.student, r.email]


EXPORTERS: dict[str, type[ExportPlugin]] = {"canvas": CanvasExport, "moodle": MoodleExport, "csv": CsvExportPlugin}
DEFAULT_NAMES = {"canvas": CanvasExport.default_name, "moodle": MoodleExport.default_name, "csv": "grades.csv"}


def export_grades(course: Course, format: str, destination: Path | None = None, assignments: list[str] | None = None) -> Path:
    """Write the `format` file of `assignments` (None: every assignment of the course) with the exporter
    `nbgrader export --exporter ...` uses, configured as there."""
    destination = destination or course.root / DEFAULT_NAMES[format]
    chosen = list(course.assignment_ids) if assignments is None else assignments
    exporter = EXPORTERS[format](config=course_config(course), to=str(destination), assignment=chosen)
    in_gradebook(course, exporter.export)
    return destination
