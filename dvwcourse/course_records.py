"""What the gradebook holds beside scores: the due date, the roster, each submission's time, extensions
and late penalties; brought up to date after every grading and before every export."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nbgrader.api import Gradebook
from nbgrader.plugins import LateSubmissionPlugin

from .deadlines import extension_for, late_plugin, utc_naive
from .intake import Submission
from .nbgrader_api import in_gradebook
from .roster import Student, read_extensions, read_roster
from .settings import Course


@dataclass
class CourseRecords:
    unknown_students: list[str] = field(default_factory=list)  # submitted, but not on the roster
    without_time: list[str] = field(default_factory=list)  # submitted with no time: never counted late


def update_course_records(course: Course, submissions: list[Submission] | None = None) -> CourseRecords:
    """Due date and roster into nbgrader's records; the time of each of `submissions` (None: keep the stored
    times); every submission's extension and late penalty recomputed (manual grades may have changed the score)."""
    roster = read_roster(course)
    extensions = {student: extension_for(course, due) for student, due in read_extensions(course).items()}
    store_roster_and_due_date(course, list((roster or {}).values()), utc_naive(course.due) if course.due else None)
    submissions = submissions or []
    store_times_and_late_penalties(course, {s.student: s.timestamp for s in submissions}, extensions, late_plugin(course))
    return CourseRecords(
        unknown_students=[s.student for s in submissions if roster is not None and s.student not in roster],
        without_time=[s.student for s in submissions if s.timestamp is None],
    )


def store_roster_and_due_date(course: Course, students: list[Student], due: datetime | None) -> None:
    """The assignment's due date (UTC, as nbgrader stores it) and the roster's students into nbgrader's
    records, where formgrader, `nbgrader export` and our exports read them."""
    def store(gradebook: Gradebook) -> None:
        gradebook.update_or_create_assignment(course.assignment_id, duedate=due)
        for student in students:
            gradebook.update_or_create_student(
                student.id, first_name=student.first_name or None, last_name=student.last_name or None,
                email=student.email or None, lms_user_id=student.lms_user_id or None)

    in_gradebook(course, store)


def store_times_and_late_penalties(course: Course, times: dict[str, datetime | None], extensions: dict[str, timedelta | None],
                                   plugin: LateSubmissionPlugin) -> None:
    """Each submission's time (for the students in `times`) and extension (all of them), then every
    submitted notebook's late penalty from `plugin`, as nbgrader's AssignLatePenalties computes it
    (on the notebook's current score, manual grades included; never below 0 or above the score)."""
    def store(gradebook: Gradebook) -> None:
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

    in_gradebook(course, store)
