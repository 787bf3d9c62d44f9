"""Validate a notebook with the grader's own verdict: the same reading, assembling, sandbox and checks
as grading (safe_grading.Grader.evaluate), recording nothing (only the master's checked values are cached, as
grading caches them), with an honest exit status (nbgrader's CLI exits 0 whatever happens)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .intake import Submission
from .records import GradeReport
from .safe_grading import Grader
from .settings import Course


@dataclass
class ValidationResult:
    path: Path
    problems: list[str] = field(default_factory=list)  # every exercise that would lose points, and why
    notes: list[str] = field(default_factory=list)  # how the answers were found, what was odd about the file
    report: GradeReport | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_notebook(course: Course, path: Path, grader: Grader | None = None) -> ValidationResult:
    """Grade `path` as grading would, without recording it; every lost point is a problem."""
    result = ValidationResult(path)
    if not path.is_file():
        result.problems.append(f"{path}: no such notebook")
        return result
    report = (grader or Grader(course)).evaluate(Submission(path.stem, path)).report
    result.report, result.notes = report, list(report.notes)
    if report.status != "graded":
        result.problems.append(f"{path}: {report.status}" + (f": {report.notes[0]}" if report.notes else ""))
    for cell in report.cells:
        if cell.points < cell.max_points:
            lines = [f"{cell.title or cell.grade_id}: {cell.points:g} / {cell.max_points:g}"]
            lines += [f"stopped early: {cell.error}"] if cell.error else []
            lines += [f"{'hidden check' if c.hidden else c.name}: {c.message}" for c in cell.checks_to_revisit_first if not c.passed]
            result.problems.append("\n".join(lines))
    return result
