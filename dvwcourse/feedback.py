"""Per-student HTML feedback: which checks passed, and why the others failed, without hidden code."""
from __future__ import annotations

from pathlib import Path

from .atomic import write_text_atomic
from .html_pages import render_page
from .records import GradeReport
from .settings import Course


def write_feedback(course: Course, report: GradeReport) -> Path:
    """feedback/<student>/<assignment>/<notebook>.html: first one row per exercise (lost points first), then every
    check's outcome, failed ones first, in the grader's words (hidden
    checks by their message only, their code only if course.yml says so). Written whole or not at all."""
    path = course.root / "feedback" / report.student / course.assignment_id / f"{course.notebook}.html"
    rows = sorted(report.cells, key=lambda cell: cell.points >= cell.max_points)  # exercises that lost points first
    html = render_page("feedback.html.j2", title=course.title, report=report, rows=rows, show_hidden_source=course.show_hidden_test_source)
    return write_text_atomic(path, html)
