"""Per-student HTML feedback: which checks passed, and why the others failed, without hidden code; handed back
through nbgrader's exchange (`nbgrader release_feedback`) or an LMS (a zip of per-student files)."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

from .atomic import write_bytes_atomic, write_text_atomic
from .deadlines import lateness
from .html_pages import render_page
from .intake import SUBMISSION_STAMPS
from .lms_export import Standing, points
from .records import PENDING, GradeReport
from .roster import Student
from .settings import Course


def write_feedback(course: Course, report: GradeReport, standing: Standing | None = None) -> Path:
    """feedback/<student>/<assignment>/<notebook>.html: the submission's story (the file graded and how it was found;
    with the gradebook's `standing`, also when it was submitted, whether late, the penalty and the final score), then
    one row per exercise (lost points first), then every check's outcome, failed ones first, in the grader's words
    (hidden checks by their message only, their code only if course.yml says so). Written whole or not at all."""
    path = course.root / "feedback" / report.student / course.assignment_id / f"{course.notebook}.html"
    rows = sorted(report.cells, key=lambda cell: cell.points >= cell.max_points)  # exercises that lost points first
    html = render_page("feedback.html.j2", title=course.title, report=report, rows=rows, show_hidden_source=course.show_hidden_test_source,
                       standing=standing if standing and standing.submitted else None, points=points, lateness=lateness)
    return write_text_atomic(path, html)


def refresh_feedback(course: Course, reports: list[GradeReport], standings: dict[str, Standing]) -> None:
    """Write the recorded reports' pages again with the gradebook's standings: the time, lateness, penalty and final
    score change after grading (the course loop's settings, manual grades), the checks do not."""
    for report in reports:
        if report.student in standings and report.status != PENDING:
            write_feedback(course, report, standings[report.student])


def copy_exchange_stamps(course: Course, student: str) -> None:
    """Beside a student's feedback, the submission's timestamp.txt and submission_secret.txt (written by
    `nbgrader submit`/`collect`), which `nbgrader release_feedback` needs to hand feedback back on a hub."""
    submitted = course.submitted_notebook(student).parent
    folder = course.root / "feedback" / student / course.assignment_id
    if not folder.is_dir():
        return
    for name in SUBMISSION_STAMPS:
        if (submitted / name).is_file():
            write_bytes_atomic(folder / name, (submitted / name).read_bytes())


def write_feedback_zip(course: Course, students: list[Student], path: Path) -> Path:
    """Every student's feedback pages of the assignment (one per notebook) in one zip for an LMS's bulk feedback upload, each in a folder named as
    Moodle's assignment download names a participant's files (`<full name>_<LMS user id>_assignsubmission_file_`);
    a student without an LMS user id is named by their course id."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for student in students:
            name = " ".join(part for part in (student.first_name, student.last_name) if part) or student.id
            folder = f"{name}_{student.lms_user_id or student.id}_assignsubmission_file_"
            for notebook in course.notebooks:
                page = course.root / "feedback" / student.id / course.assignment_id / f"{notebook}.html"
                if page.is_file():
                    bundle.write(page, f"{folder}/{notebook}_feedback.html")
    return write_bytes_atomic(path, buffer.getvalue())
