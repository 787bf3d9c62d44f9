"""Grading results for people: the score table on the terminal and grades.csv."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from .atomic import write_text_atomic
from .records import PENDING, GradeReport


def reason(report: GradeReport) -> str:
    return "; ".join(report.notes[:1] + report.flags[:2]) if report.status != "graded" or report.flags else ""


def graded_unsandboxed(reports: list[GradeReport]) -> list[str]:
    """Students whose kernel ran outside the sandbox (resource limits only)."""
    return [r.student for r in reports if r.graded and not r.sandboxed]


def isolation_statement(reports: list[GradeReport]) -> str:
    """How the batch's kernels were sandboxed, from what each worker reported, naming every exception."""
    unsandboxed = graded_unsandboxed(reports)
    if unsandboxed:
        return (f"NOT sandboxed for {len(unsandboxed)} of {len(reports)} submissions (resource limits only; the kernel could see "
                f"the file system and the network): {', '.join(unsandboxed)}")
    if any(r.graded for r in reports):
        return "every kernel sandboxed (bubblewrap: no network, read-only system, own scratch folder and uid; resource limits)"
    return "no submission ran a kernel"


def write_grades_csv(reports: list[GradeReport], path: Path) -> Path:
    """One row per submission: status, reason, total and every test cell's points."""
    cells = [cell.grade_id for cell in next((r.cells for r in reports if r.cells), [])]
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["student", "status", "score", "max_score", "seconds", "sandboxed", "reason", *cells])
    for report in reports:
        points = {cell.grade_id: cell.points for cell in report.cells}
        writer.writerow([
            report.student, report.status, "" if report.status == PENDING else f"{report.score:g}", f"{report.max_score:g}",
            f"{report.seconds:.2f}", report.sandboxed, reason(report), *(f"{points[c]:g}" if c in points else "" for c in cells),
        ])
    return write_text_atomic(path, text.getvalue())


def format_table(rows: list[list[str]]) -> str:
    """Left-aligned columns, the first row a header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def format_reports(reports: list[GradeReport]) -> str:
    cells = [cell.grade_id for cell in next((r.cells for r in reports if r.cells), [])]
    header = ["student", *(c.removeprefix("test_") for c in cells), "score", "status", "seconds"]
    rows = [header]
    for report in reports:
        points = {cell.grade_id: cell.points for cell in report.cells}
        rows.append([
            report.student, *(f"{points[c]:g}" if c in points else "-" for c in cells),
            f"{report.score:g}/{report.max_score:g}", report.status + (" (unchanged)" if report.skipped else ""), f"{report.seconds:.1f}",
        ])
    return format_table(rows)
