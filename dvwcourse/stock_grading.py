"""Autograde submissions with nbgrader, write feedback and grades.csv, and tabulate the scores."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import MissingEntry
from nbgrader.plugins.export import CsvExportPlugin

from .nbgrader_api import make_api, open_gradebook
from .results import format_table
from .settings import Course


@dataclass
class GradingOutcome:
    student: str
    graded: bool
    seconds: float
    error: str = ""


def autograde(course: Course, students: list[str]) -> list[GradingOutcome]:
    """Autograde each student in its own API call, so one broken submission never stops the rest."""
    api = make_api(course)
    os.environ.update(course.grading_env)  # this assignment's budget (nbgrader_config.py set the first one's)
    outcomes = []
    for student in students:
        start = time.perf_counter()
        try:
            result = api.autograde(course.assignment_id, student, force=True)
            graded, error = bool(result["success"]), result.get("error") or ""
        except Exception as exc:  # nbgrader raised instead of reporting: record it and go on
            graded, error = False, f"{type(exc).__name__}: {exc}"
        if graded and not course.autograded_notebook(student).is_file():
            graded, error = False, "nbgrader removed the autograded notebook (e.g. the kernel died)"
        outcomes.append(GradingOutcome(student, graded, time.perf_counter() - start, error.strip()))
    return outcomes


def generate_feedback(course: Course, students: list[str]) -> list[str]:
    """HTML feedback under feedback/<student>/; returns the students it failed for."""
    api = make_api(course)
    return [s for s in students if not api.generate_feedback(course.assignment_id, s, force=True)["success"]]


def export_grades(course: Course, path: Path) -> Path:
    """nbgrader's CSV export of the gradebook."""
    with open_gradebook(course) as gradebook:
        CsvExportPlugin(to=str(path), assignment=[course.assignment_id]).export(gradebook)
    return path


def gradebook_scores(course: Course, students: list[str]) -> list[dict[str, object]]:
    """Per student: the score of every graded cell (None where a person must grade it) and the totals."""
    rows = []
    with open_gradebook(course) as gradebook:
        for student in students:
            row: dict[str, object] = {"student": student}
            try:
                submission = gradebook.find_submission(course.assignment_id, student)
            except MissingEntry:
                rows.append({**row, "status": "not graded"})
                continue
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    row[grade.name] = None if grade.needs_manual_grade else grade.score
            automatic = [g for n in submission.notebooks for g in n.grades if g.cell.cell_type == "code"]
            row["auto_score"] = sum(g.score for g in automatic)
            row["auto_max"] = sum(g.max_score for g in automatic)
            row["status"] = "graded"
            rows.append(row)
    return rows


def format_gradebook_scores(course: Course, rows: list[dict[str, object]]) -> str:
    columns = [name for name in course.points if any(name in row for row in rows)]
    header = ["student", *(name.removeprefix("test_").removeprefix("discussion_") for name in columns), "auto", "status"]
    lines = [header]
    for row in rows:
        cells = [str(row["student"])]
        for name in columns:
            value = row.get(name, "")
            cells.append("manual" if value is None and name in row else "" if value == "" else f"{value:g}")
        auto = f"{row['auto_score']:g}/{row['auto_max']:g}" if "auto_score" in row else "-"
        lines.append([*cells, auto, str(row["status"])])
    return format_table(lines)
