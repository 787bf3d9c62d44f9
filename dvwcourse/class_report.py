"""The class report: one self-contained HTML page (plots inlined) about a graded batch; and, for a course of several
assignments or notebooks, the course's page that links them and gives every student's final scores."""
from __future__ import annotations

import base64
import io
import statistics
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file-only backend)

from .atomic import write_text_atomic  # noqa: E402
from .course_records import CourseRecords  # noqa: E402
from .html_pages import render_page  # noqa: E402
from .lms_export import Standing, read_standings  # noqa: E402
from .results import reason  # noqa: E402
from .records import GradeReport  # noqa: E402
from .settings import Course, load_course  # noqa: E402



@dataclass
class CheckRate:
    cell: str
    name: str
    hidden: bool
    passed: int
    failed: int

    @property
    def rate(self) -> float:
        return self.passed / (self.passed + self.failed) if self.passed + self.failed else 0.0


def check_rates(reports: list[GradeReport]) -> list[CheckRate]:
    """Every check's pass count over the whole batch; a submission that could not run fails them all."""
    rates: dict[tuple[str, str], CheckRate] = {}
    for report in reports:
        for cell in report.cells:
            for check in cell.checks:
                rates.setdefault((cell.grade_id, check.name), CheckRate(cell.grade_id, check.name, check.hidden, 0, 0))
    for report in reports:
        outcome = {(cell.grade_id, check.name): check.passed for cell in report.cells for check in cell.checks}
        for key, rate in rates.items():
            if outcome.get(key):
                rate.passed += 1
            else:
                rate.failed += 1
    return list(rates.values())


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def _plots(reports: list[GradeReport], rates: list[CheckRate], max_score: float) -> dict[str, str]:
    scores = [r.score for r in reports]
    figure, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist(scores, bins=[x - 0.5 for x in range(int(max_score) + 2)], color="#3b6ea8")
    ax.set(xlabel="automatic score", ylabel="submissions", title="Score distribution")
    plots = {"scores": _png(figure)}

    ordered = sorted(rates, key=lambda r: r.rate)
    figure, ax = plt.subplots(figsize=(8, max(3.0, 0.22 * len(ordered))))
    ax.barh(range(len(ordered)), [100 * r.rate for r in ordered], color=["#b42318" if r.rate < 0.5 else "#1a7f37" for r in ordered])
    ax.set_yticks(range(len(ordered)), [f"{r.cell.removeprefix('test_')}: {r.name}"[:70] for r in ordered], fontsize=7)
    ax.set(xlabel="% of submissions passing", xlim=(0, 100), title="Pass rate of every check")
    plots["checks"] = _png(figure)

    figure, ax = plt.subplots(figsize=(7, 3.5))
    ordered_reports = sorted(reports, key=lambda r: r.seconds)
    ax.bar(range(len(ordered_reports)), [r.seconds for r in ordered_reports], color="#6b5ca5")
    ax.set(xlabel="submissions, fastest first", ylabel="seconds", title="Grading time per submission")
    plots["times"] = _png(figure)
    return plots


def write_class_report(course: Course, reports: list[GradeReport], path: Path, isolation: str,
                       standings: dict[str, Standing] | None = None, records: CourseRecords | None = None) -> Path:
    """One self-contained HTML page on the batch: summary, how kernels were sandboxed, score and time plots,
    every check's pass rate, the submissions a person should look at and, from the gradebook, every
    submission's time, raw score, late penalty and final score. Written whole or not at all."""
    rates = check_rates(reports)
    max_score = max((r.max_score for r in reports), default=0.0)
    graded = [r for r in reports if r.graded]
    flagged = [r for r in reports if r.status != "graded" or r.flags]
    summary = {
        "submissions": len(reports),
        "graded": len(graded),
        "not graded": len(reports) - len(graded),
        "mean score": f"{statistics.mean(r.score for r in graded):.1f} / {max_score:g}" if graded else "-",
        "median score": f"{statistics.median(r.score for r in graded):g} / {max_score:g}" if graded else "-",
        "median grading time": f"{statistics.median(r.seconds for r in reports):.1f} s" if reports else "-",
    }
    records = records or CourseRecords()
    lateness = [standings[r.student] for r in reports if standings and r.student in standings and standings[r.student].submitted]
    summary["due"] = course.due.isoformat(sep=" ") if course.due else "none (nothing is late)"
    summary["late submissions"] = str(sum(s.seconds_late > 0 for s in lateness))
    summary["submissions without a time"] = ", ".join(records.without_time) or "none"
    if course.roster_csv is not None:
        summary["not on the roster"] = ", ".join(records.unknown_students) or "none"
    html = render_page("class_report.html.j2",
        title=course.title if len(course.notebooks) == 1 else f"{course.title}: {course.notebook}", summary=summary, isolation=isolation, plots=_plots(reports, rates, max_score),
        rates=sorted(rates, key=lambda r: (r.rate, r.cell)), flagged=[(r, reason(r) or "; ".join(r.notes[:1])) for r in flagged],
        lateness=lateness,
    )
    return write_text_atomic(path, html)


def write_course_report(course: Course, reports: dict[str, list[tuple[str, Path]]], path: Path) -> Path:
    """The course's page: every assignment (due date, submissions, mean final score, links to its class reports in
    `reports`, by assignment id), then every student's final score on each, from the gradebook. Written whole."""
    assignments, students = [], set()
    for assignment in course.assignment_ids:
        view = load_course(course.root, assignment)
        standings = {s.student: s for s in read_standings(view)}
        students |= set(standings)
        finals = [s.score for s in standings.values() if s.submitted]
        assignments.append({
            "id": assignment, "title": view.title, "due": view.due.isoformat(sep=" ") if view.due else None,
            "standings": standings, "submitted": len(finals), "max_score": max((s.max_score for s in standings.values()), default=0.0),
            "mean": f"{statistics.mean(finals):.1f}" if finals else "-",
            "reports": [(name, report.name) for name, report in reports.get(assignment, [])],
        })
    totals = {student: sum(a["standings"][student].score for a in assignments
                           if student in a["standings"] and a["standings"][student].submitted) for student in students}
    html = render_page("course_report.html.j2", course_id=course.course_id, assignments=assignments,
                       students=sorted(students), totals=totals)
    return write_text_atomic(path, html)
