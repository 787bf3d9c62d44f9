"""What the gradebook holds beside scores: the due date, the roster, each submission's time, extensions
and late penalties; brought up to date after every grading and before every export."""
from __future__ import annotations

from dataclasses import dataclass, field

from .deadlines import extension_for, late_plugin, utc_naive
from .gradebook_io import store_roster_and_due_date, store_times_and_late_penalties
from .inputs import Submission
from .roster import read_extensions, read_roster
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
