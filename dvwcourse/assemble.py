"""Turn a submitted file into the notebook that is graded: the master's cells, the student's code.

From the submission only the student's code and text are taken: the answer cells (found by `alignment`,
with or without their tags) and the cells the student added. The locked cells, the test cells, every
cell's metadata and the kernel come from the course, so editing, deleting, duplicating, renaming or
retyping course cells gains nothing.

Where the student's own cells go (`place`): each goes right after the course cell that precedes it
in the submission (the nearest cell found as a release cell), in the submission's order. Those that
precede the first answer cell go right before it, after the setup cells, so the setup cells run as
in the master (and a warm kernel's copy of them stays valid). A further copy of an answer cell with
the student's work in it (a split or copied answer cell) is placed the same way: every copy runs,
in the notebook's order, as it did when the student ran the notebook. Copies left as the stub are skipped.

Why an added cell cannot change a verdict beyond what the answer cells can: it runs in the same
untrusted kernel, and test cells run in the grader on values the kernel exports. A cell placed after
an answer and before its test cell does what the end of that answer cell could do; any cell after the
first answer cell is code that an answer cell can already run at that moment (an IPython
`pre_run_cell` hook runs code before every later cell); cells before the first answer cell run just
before it, as if at its top. Nothing of the submission becomes a test or locked cell, and no test cell
runs in the kernel.
"""
from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .alignment import SubmittedCell, align, normalized, submitted_cells
from .cells import grade_id, is_solution
from .intake.notebook_file import NotReadable, read_notebook_cells

STUDENT_CELL = "dvwcourse"  # metadata key of the cells the student added, in the graded notebook


@dataclass
class StudentCell:
    """A cell of the student's own, and the course cell it follows (None: before every course cell)."""

    after: str | None
    cell_type: str
    source: str


@dataclass
class Answers:
    """The student's answer cells by grade_id, their own cells, and what was odd about the file."""

    cells: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unreadable: str = ""  # why nothing could be read, if so
    own: list[StudentCell] = field(default_factory=list)
    remarks: dict[str, list[str]] = field(default_factory=dict)  # answer grade_id -> how it was found, when unusual
    flags: list[str] = field(default_factory=list)  # for a person to look at: answers that could be in several cells


def read_answers(path: Path, release: nbformat.NotebookNode) -> Answers:
    """The answer cells and the student's own cells of the file at `path`; never raises on bad bytes or JSON."""
    answers = Answers()
    raw = _raw_cells(path, answers)
    if raw is None:
        return answers
    cells = submitted_cells(raw)
    found = align(release, cells)
    extra: set[int] = set()
    for stub in (c for c in release.cells if is_solution(c)):
        gid = grade_id(stub)
        copies = found.copies(gid)
        worked = [n for n in copies if normalized(cells[n].source) != normalized(stub.source)]
        if copies:
            answers.cells[gid] = cells[(worked or copies)[0]].source
        extra |= set(worked[1:])
        remarks = answers.remarks.setdefault(gid, [])
        if gid in found.recovered and worked:
            remarks.append(f"your answer was found in a cell without its grading tag (cell {found.recovered[gid] + 1} of your notebook)")
        if len(copies) > 1:
            remarks.append(f"this answer cell appears {len(copies)} times in your notebook (cells {_numbers(copies)}): every copy with"
                           " your work in it ran, in your notebook's order" + (", copies left as the stub were skipped" if len(worked) < len(copies) else ""))
        if gid in found.ambiguous:
            answers.flags.append(f"{gid}: no cell carries its tag and cells {_numbers(found.ambiguous[gid])} could each be it (not guessed)")
            remarks.append(f"no cell carries this answer's grading tag, and cells {_numbers(found.ambiguous[gid])} all look like it: it was"
                           " graded as unanswered; ask your teaching assistants to look")
    for gid in [g for g, r in answers.remarks.items() if not r]:
        del answers.remarks[gid]
    answers.notes += [f"{gid}: {remark}" for gid, remarks in answers.remarks.items() for remark in remarks]
    missing = sorted(grade_id(c) for c in release.cells if is_solution(c) and grade_id(c) not in answers.cells)
    if missing:
        answers.notes.append(f"answer cells missing from the submission (graded as unanswered): {', '.join(missing)}")
    answers.own = place(cells, found.mapped, found.refused, extra)
    added = sum(1 for c in cells if c.cell_type == "code" and c.source.strip() and c.index not in found.mapped and c.index not in found.refused)
    if added:
        answers.notes.append(f"code cells you added ({added}) ran in their place among the course's cells")
    if found.refused:
        answers.notes.append(f"cells {_numbers(found.refused)} are marked as course cells the assignment does not have: they were not run")
    return answers


def place(cells: list[SubmittedCell], mapped: dict[int, str], refused: list[int], extra: set[int]) -> list[StudentCell]:
    """The student's own cells (unmapped, or further copies of an answer), each after the course cell before it."""
    own, after = [], None
    for cell in cells:
        if cell.index in mapped and cell.index not in extra:
            after = mapped[cell.index]
        elif cell.index not in refused and cell.source.strip():
            own.append(StudentCell(after, cell.cell_type, cell.source))
    return own


def _raw_cells(path: Path, answers: Answers) -> list | None:
    """The file's list of cells, or None with the reason in `answers.unreadable`."""
    try:
        notebook = read_notebook_cells(path)
    except NotReadable as error:
        answers.unreadable = str(error)
        return None
    answers.notes += notebook.notes
    return notebook.cells


def _numbers(indexes: list[int], shown: int = 10) -> str:
    """Cell numbers as a student counts them (from 1), the first few only."""
    more = f" and {len(indexes) - shown} more" if len(indexes) > shown else ""
    return ", ".join(str(n + 1) for n in indexes[:shown]) + more


def assemble(master: nbformat.NotebookNode, release: nbformat.NotebookNode, answers: Answers) -> nbformat.NotebookNode:
    """A copy of the master with solutions replaced by the student's answers (the release's stubs where none),
    and the student's own cells in their place (see the module's text)."""
    graded = copy.deepcopy(master)
    stubs = {grade_id(c): c.source for c in release.cells if grade_id(c)}
    for cell in graded.cells:
        if is_solution(cell):
            cell.source = answers.cells.get(grade_id(cell), stubs[grade_id(cell)])
    if not answers.own:
        return graded
    order = [grade_id(c) for c in graded.cells]
    first_answer = next((n for n, c in enumerate(graded.cells) if is_solution(c)), len(order))
    # The master cell each of the student's cells follows (by position); those before the first answer go right before it.
    follows = [order.index(c.after) if c.after is not None and c.after in order else -1 for c in answers.own]
    follows = [n if n >= first_answer else first_answer - 1 for n in follows]
    numbers = itertools.count(1)
    cells = [_student_cell(c, next(numbers)) for c, f in zip(answers.own, follows) if f == -1]  # no cell before the first answer
    for n, cell in enumerate(graded.cells):
        cells.append(cell)
        cells += [_student_cell(c, next(numbers)) for c, f in zip(answers.own, follows) if f == n]
    graded.cells = cells
    return graded


def _student_cell(cell: StudentCell, n: int) -> nbformat.NotebookNode:
    """A new cell with the student's text only: none of the file's metadata, an id no course cell has.
    (Built as plain data: nbformat's new_*_cell validates each cell, slow for a notebook of thousands.)"""
    node = {"cell_type": cell.cell_type, "id": f"student-cell-{n}", "metadata": {STUDENT_CELL: {"student_cell": True}}, "source": cell.source}
    if cell.cell_type == "code":
        node.update(outputs=[], execution_count=None)
    return nbformat.from_dict(node)
