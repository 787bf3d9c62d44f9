"""What nbgrader needs from course.yml, as a traitlets configuration."""
from __future__ import annotations

import os
import re

from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, OverwriteCells, OverwriteKernelspec
from traitlets.config import Config

from .deadlines import CourseLatePenalty
from .lms_export import CourseExport
from .preprocessors import DeduplicateGradeIds
from .settings import Course, read_course_file


def benign_stderr_pattern(warning_names: tuple[str, ...]) -> str:
    """A regex matching stderr text that starts with a Python warning of one of these categories.

    Warnings print as `file:line: Category: message`, and torch's messages run over several
    unindented lines, so the whole output is judged by its first line. nbgrader's IgnorePattern
    drops a matching stderr output; errors are error outputs, not stderr, and still count.
    """
    names = "|".join(re.escape(name) for name in warning_names)
    return rf"\A[^\n]*: (?:{names}): "


def configure_nbgrader(c: Config, course: Course) -> None:
    c.CourseDirectory.root = str(course.root)
    c.CourseDirectory.course_id = course.course_id
    if course.gradebook_url:
        c.CourseDirectory.db_url = course.gradebook_url
    # nbgrader's exchange (for `release_assignment`/`collect` on a shared hub) lives with the course,
    # not in a system folder this user may not write.
    c.Exchange.root = str(course.root / "exchange")

    # Kernels inherit this process's environment: grade at the small training budget unless the
    # caller chose one (e.g. <budget.env_var>=1 nbgrader autograde ... for a full-budget grading).
    for name, value in course.grading_env.items():
        os.environ.setdefault(name, value)

    c.Execute.timeout = course.sandbox.cell_seconds
    # Restore deleted test cells instead of leaving them for manual grading, and survive duplicated ones.
    c.OverwriteCells.add_missing_cells = True
    c.Autograde.sanitize_preprocessors = [
        ClearOutput, DeduplicateGradeIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata,
    ]
    if course.benign_stderr_warnings:
        c.IgnorePattern.enabled = True
        c.IgnorePattern.pattern = benign_stderr_pattern(course.benign_stderr_warnings)
    c.FileNameCollectorPlugin.named_regexp = course.zip_filename_regexp
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
    configure_course_loop(c, course)


def configure_course_loop(c: Config, course: Course) -> None:
    """Late penalties and LMS exports through nbgrader's own hooks, so its commands and ours agree."""
    c.AssignLatePenalties.plugin_class = CourseLatePenalty
    for name, value in course.late_policy.model_dump().items():
        setattr(c.CourseLatePenalty, name, value)
    _, settings = read_course_file(course.root)
    c.CourseLatePenalty.assignment_policies = {
        entry.id: settings.section_of(entry, "late_policy").model_dump() for entry in settings.assignment_list}
    c.CourseExport.course_root = str(course.root)
