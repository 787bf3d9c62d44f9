"""Grading results for people: the score table on the terminal and grading-results.csv.

(`grades.csv` is nbgrader's own export, written by `nbgrader export` and `dvwcourse export --format csv`.)
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from .atomic import write_text_atomic
from .lms_export import Standing, points
from .records import PENDING, GradeReport

RESULTS_CSV = "grading-results.csv"  # ours; never grades.csv, which is nbgrader's export


def reason(report: GradeReport) -> str:
    return "; ".join(report.notes[:1] + report.flags[:2]) if report.status != "graded" or report.flags else ""


def ran_unsandboxed(reports: list[GradeReport]) -> list[str]:
    """Students whose kernels ran outside the sandbox (resource limits only), whatever their outcome."""
    return [r.student for r in reports if r.kernels and not r.sandboxed]


def isolation_statement(reports: list[GradeReport]) -> str:
    """How the batch's kernels were sandboxed, counting every kernel that started (whatever its submission's outcome),
    from what each worker reported, naming every exception."""
    unsandboxed = ran_unsandboxed(reports)
    if unsandboxed:
        return (f"NOT sandboxed for {len(unsandboxed)} of {len(reports)} submissions (resource limits only; the kernel could see "
                f"the file system and the network): {', '.join(unsandboxed)}")
    started = sum(r.kernels for r in reports)
    if started:
        return (f"every kernel sandboxed, {started} for {sum(1 for r in reports if r.kernels)} submissions (bubblewrap: no network, "
                "read-only system, own scratch folder and uid; resource limits)")
    return "no submission ran a kernel"


def write_grades_csv(reports: list[GradeReport], path: Path, standings: dict[str, Standing] | None = None) -> Path:
    """One row per submission: status, reason, automatic score, every test cell's points and, from the
    gradebook (`standings`), when it was submitted, the raw score (manual grades included), the late penalty
    and the final score."""
    cells = [cell.grade_id for cell in next((r.cells for r in reports if r.cells), [])]
    standings = standings or {}
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["student", "status", "score", "max_score", "seconds", "sandboxed", "reason",
                     "submitted_utc", "hours_late", "raw_score", "late_penalty", "final_score", *cells])
    for report in reports:
        cell_points = {cell.grade_id: cell.points for cell in report.cells}
        standing = standings.get(report.student)
        writer.writerow([
            report.student, report.status, "" if report.status == PENDING else f"{report.score:g}", f"{report.max_score:g}",
            f"{report.seconds:.2f}", report.sandboxed, reason(report), *standing_columns(standing),
            *(f"{cell_points[c]:g}" if c in cell_points else "" for c in cells),
        ])
    return write_text_atomic(path, text.getvalue())


def standing_columns(standing: Standing | None) -> list[str]:
    """Submission time, hours late, raw score, penalty and final score; empty where the gradebook has no submission."""
    if standing is None or not standing.submitted:
        return [""] * 5
    return [standing.timestamp.isoformat(sep=" ") if standing.timestamp else "", f"{standing.seconds_late / 3600:.2f}",
            points(standing.raw_score), points(standing.late_penalty), points(standing.score)]


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
