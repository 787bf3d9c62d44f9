"""Store judged scores in nbgrader's gradebook, where formgrader and `nbgrader export` find them."""
from __future__ import annotations

from datetime import datetime, timedelta

from nbgrader.api import MissingEntry
from nbgrader.plugins import LateSubmissionPlugin

from .nbgrader_api import open_gradebook
from .records import CellVerdict
from .roster import Student
from .settings import Course, CourseError


def store_scores(course: Course, student: str, verdicts: list[CellVerdict], written: dict[str, bool]) -> None:
    """Autograded scores from `verdicts`; written answers flagged for a person when answered.

    Manual grades already given survive a regrade: the submission is updated, not replaced.
    """
    scores = {v.grade_id: v.points for v in verdicts}
    with open_gradebook(course) as gradebook:
        try:
            gradebook.find_assignment(course.assignment_id)
        except MissingEntry as error:
            raise CourseError(f"{course.root / 'gradebook.db'}: no assignment {course.assignment_id}; run `dvwcourse release` first") from error
        gradebook.update_or_create_student(student)
        try:
            submission = gradebook.find_submission(course.assignment_id, student)
        except MissingEntry:
            submission = gradebook.add_submission(course.assignment_id, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.name in scores:
                    grade.auto_score = scores[grade.name]
                    grade.needs_manual_grade = False
                elif grade.name in written and not written[grade.name]:
                    grade.auto_score = 0.0  # left blank: nothing for a person to read
                    grade.needs_manual_grade = False
                elif grade.name in written and grade.manual_score is None:
                    grade.auto_score = None
                    grade.needs_manual_grade = True
        gradebook.db.commit()


def store_roster_and_due_date(course: Course, students: list[Student], due: datetime | None) -> None:
    """The assignment's due date (UTC, as nbgrader stores it) and the roster's students into nbgrader's
    records, where formgrader, `nbgrader export` and our exports read them."""
    with open_gradebook(course) as gradebook:
        gradebook.update_or_create_assignment(course.assignment_id, duedate=due)
        for student in students:
            gradebook.update_or_create_student(
                student.id, first_name=student.first_name or None, last_name=student.last_name or None,
                email=student.email or None, lms_user_id=student.lms_user_id or None)


def store_times_and_late_penalties(course: Course, times: dict[str, datetime | None], extensions: dict[str, timedelta | None],
                                   plugin: LateSubmissionPlugin) -> None:
    """Each submission's time (for the students in `times`) and extension (all of them), then every
    submitted notebook's late penalty from `plugin`, as nbgrader's AssignLatePenalties computes it
    (on the notebook's current score, manual grades included; never below 0 or above the score)."""
    with open_gradebook(course) as gradebook:
        for submission in gradebook.find_assignment(course.assignment_id).submissions:
            student = submission.student.id
            if student in times:
                submission.timestamp = times[student]
            submission.extension = extensions.get(student)
            seconds_late = submission.total_seconds_late
            for notebook in submission.notebooks:
                penalty = plugin.late_submission_penalty(student, notebook.score, seconds_late) if seconds_late > 0 else None
                notebook.late_submission_penalty = None if penalty is None else min(max(penalty, 0.0), notebook.score)
        gradebook.db.commit()
