"""The summary and the class report name every submission graded without a sandbox; settings that contradict fail."""
from __future__ import annotations

import pytest

from dvwcourse.class_report import write_class_report
from dvwcourse.results import isolation_statement
from dvwcourse.safe_grading import GradeReport
from dvwcourse.settings import CourseError, load_course


def report(student, status="graded", sandboxed=True, kernels=1):
    return GradeReport(student, status, 24.0, 24.0, sandboxed=sandboxed, kernels=kernels)


def test_every_unsandboxed_submission_is_named():
    statement = isolation_statement([report("ann"), report("bo", sandboxed=False), report("cy", "incomplete", sandboxed=False)])
    assert statement.startswith("NOT sandboxed for 2 of 3 submissions") and statement.endswith(": bo, cy")


def test_a_fully_sandboxed_batch_says_so_and_refusals_are_not_counted_as_unsandboxed():
    refused = report("bo", "error", sandboxed=False, kernels=0)
    assert isolation_statement([report("ann"), refused]).startswith("every kernel sandboxed, 1 for 1 submissions")
    assert isolation_statement([refused]) == "no submission ran a kernel"


def test_every_kernel_that_started_counts_whatever_its_submission_ended_as():
    """An error after its kernel started (a grader fault) and a kernel stopped for a hostile submission still ran kernels."""
    reports = [report("ann", "error"), report("bo", "incomplete", kernels=2)]
    assert isolation_statement(reports).startswith("every kernel sandboxed, 3 for 2 submissions")
    assert isolation_statement([report("ann", "error", sandboxed=False)]).endswith(": ann")


def test_disabling_the_sandbox_while_requiring_it_is_refused(course_copy):
    path = course_copy.root / "course.yml"
    path.write_text(path.read_text().replace("enabled: true", "enabled: false"))
    with pytest.raises(CourseError, match="set required: false"):
        load_course(course_copy.root)
    path.write_text(path.read_text().replace("required: true", "required: false"))
    assert not load_course(course_copy.root).sandbox.enabled


def test_the_class_report_names_submissions_graded_without_a_sandbox(course, tmp_path):
    reports = [report("ann"), report("bo", sandboxed=False)]
    html = write_class_report(course, reports, tmp_path / "report.html", isolation_statement(reports)).read_text()
    assert "NOT sandboxed for 1 of 2 submissions" in html and ": bo." in html
