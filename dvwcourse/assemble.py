"""Turn a submitted file into the notebook that is graded: the master's cells, the student's answers.

Only the text of the student's answer cells (found by nbgrader grade_id) is taken from the
submission. Everything else, the locked cells, the test cells, their metadata and the kernel, comes
from the course, so editing, deleting, duplicating, renaming or retyping cells gains nothing.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .cells import grade_id, is_solution, raw_grade_id


@dataclass
class Answers:
    """The student's answer cells by grade_id, and what was odd about the file."""

    cells: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unreadable: str = ""  # why nothing could be read, if so


def read_answers(path: Path, answer_ids: set[str]) -> Answers:
    """The answer cells of the file at `path`, by grade_id; never raises on bad bytes or JSON."""
    answers = Answers()
    try:
        raw = path.read_bytes()
    except OSError as error:
        answers.unreadable = f"{path}: cannot be read ({error.strerror})"
        return answers
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        text = raw.decode("utf-8", errors="replace")
        answers.notes.append(f"{path.name} is not valid UTF-8 (byte {error.start}); undecodable bytes were replaced")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        answers.unreadable = f"{path.name} is not a notebook: invalid JSON at line {error.lineno}, column {error.colno} ({error.msg})"
        return answers
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        answers.unreadable = f"{path.name} is not a notebook: it has no list of cells"
        return answers
    for cell in cells:
        gid = raw_grade_id(cell) or _cell_id(cell)  # an editor that drops metadata keeps the id the release gave
        if gid not in answer_ids:
            continue
        if gid in answers.cells:
            answers.notes.append(f"answer cell {gid} appears more than once; the first copy was graded")
            continue
        source = cell.get("source", "")
        answers.cells[gid] = "".join(source) if isinstance(source, list) else str(source)
    missing = sorted(answer_ids - set(answers.cells))
    if missing:
        answers.notes.append(f"answer cells missing from the submission (graded as unanswered): {', '.join(missing)}")
    return answers


def _cell_id(cell: object) -> str | None:
    return cell.get("id") if isinstance(cell, dict) and isinstance(cell.get("id"), str) else None


def answer_ids(template: nbformat.NotebookNode) -> set[str]:
    """The grade_ids of the answer cells."""
    return {grade_id(c) for c in template.cells if is_solution(c)}


def assemble(master: nbformat.NotebookNode, release: nbformat.NotebookNode, answers: Answers) -> nbformat.NotebookNode:
    """A copy of the master with solutions replaced by the student's answers (the release's stubs where none).

    Cells are matched by nbgrader grade_id only: cell ids may differ (JupyterLab, the toolbar)."""
    graded = copy.deepcopy(master)
    stubs = {grade_id(c): c.source for c in release.cells if grade_id(c)}
    for cell in graded.cells:
        if is_solution(cell):
            cell.source = answers.cells.get(grade_id(cell), stubs[grade_id(cell)])
    return graded
