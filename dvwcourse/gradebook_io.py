"""Store judged scores in nbgrader's gradebook, where formgrader and `nbgrader export` find them."""
from __future__ import annotations

from nbgrader.api import Gradebook, MissingEntry

from .nbgrader_api import in_gradebook
from .records import CellVerdict
from .settings import Course, CourseError


def store_scores(course: Course, student: str, verdicts: list[CellVerdict], written: dict[str, bool]) -> None:
    """Autograded scores from `verdicts`; written answers flagged for a person when answered.

    Manual grades already given survive a regrade: the submission is updated, not replaced. A database that does
    not answer is waited for; then GradebookUnavailable (see nbgrader_api.in_gradebook).
    """
    scores = {v.grade_id: v.points for v in verdicts}

    def store(gradebook: Gradebook) -> None:
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
            if notebook.name != course.notebook:  # the assignment's other notebooks keep their own scores
                continue
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

    in_gradebook(course, store)
