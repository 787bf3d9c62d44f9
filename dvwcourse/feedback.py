"""Per-student HTML feedback: which checks passed, and why the others failed, without hidden code."""
from __future__ import annotations

from pathlib import Path

import jinja2

from .atomic import write_text_atomic
from .settings import Course

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("dvwcourse", "templates"), autoescape=True, undefined=jinja2.StrictUndefined,
)


def write_feedback(course: Course, report) -> Path:
    path = course.root / "feedback" / report.student / course.assignment_id / f"{course.notebook}.html"
    html = _TEMPLATES.get_template("feedback.html.j2").render(
        title=course.title, report=report, show_hidden_source=course.show_hidden_test_source,
    )
    return write_text_atomic(path, html)
