"""Progress lines off a terminal, and the course.yml switch that shows hidden test code in feedback."""
from __future__ import annotations

import io
from dataclasses import replace

import pytest

from dvwcourse.feedback import write_feedback
from dvwcourse.progress import Progress
from dvwcourse.safe_grading import Evaluation, GradeReport


def test_progress_prints_counts_rate_and_time_left_when_not_on_a_terminal():
    stream = io.StringIO()
    progress = Progress(3, stream)
    for student in ["ann", "bo"]:
        progress(Evaluation(GradeReport(student, "graded", 24.0, 24.0, seconds=5.0), "digest"))
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[1/3] ann: graded 24/24 in 5.0 s;") and "per minute" in lines[0]
    assert lines[1].startswith("[2/3] bo:") and lines[1].endswith("s left")


@pytest.mark.integration
def test_feedback_shows_hidden_code_only_when_the_course_says_so(graded_corpus, tmp_path):
    course, _, reports = graded_corpus
    report = reports["mistake_get_num_params"]
    hidden_line = "get_num_params(*shape)"
    default = write_feedback(replace(course, root=tmp_path / "default"), report).read_text()
    shown = write_feedback(replace(course, root=tmp_path / "shown", show_hidden_test_source=True), report).read_text()
    assert hidden_line not in default
    assert hidden_line in shown
