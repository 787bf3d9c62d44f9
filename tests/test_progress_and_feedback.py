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


def test_feedback_leads_with_one_row_per_exercise_lost_points_first_and_failed_checks_first(course, tmp_path):
    from dvwcourse.records import CellVerdict, CheckSite, CheckVerdict

    def verdict(name: str, passed: bool, hidden: bool = False) -> CheckVerdict:
        site = CheckSite(0, 1, 1, hidden, f"check({name!r}, secret_code_{name})")
        return CheckVerdict(name, passed, hidden, "passed" if passed else f"revisit {name}", site)

    full = CellVerdict("test_one", 2.0, 2.0, [verdict("a", True)], title="Exercise 1: One", remarks=["your answer was found in a cell without its grading tag"])
    lost = CellVerdict("test_two", 0.0, 3.0, [verdict("b", True), verdict("c", False, hidden=True)], title="Exercise 2: Two")
    html = write_feedback(replace(course, root=tmp_path), GradeReport("ann", "graded", 2.0, 5.0, [full, lost])).read_text()
    summary = html[html.index("What to revisit"):html.index("</table>")]
    assert summary.index("Exercise 2: Two") < summary.index("Exercise 1: One")  # the exercise that lost points leads
    assert "1 of 2 checks failed, first: revisit c" in summary and "without its grading tag" in summary
    details = html[html.index("</table>"):]
    two = details[details.index("Exercise 2: Two"):]
    assert two.index("revisit c") < two.index("passed")  # the failed check before the passed one
    assert "secret_code" not in html
