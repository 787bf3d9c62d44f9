"""Which of the files a student handed in is the assignment's notebook: by its name, else by its content.

Students rename notebooks without meaning to (Colab's "Copy of …", a browser's "… (1)" or ".ipynb.txt", an LMS's
"-1" on a re-upload) and put them in folders. Every notebook handed in is aligned with the release (`alignment`, the
same matching that finds untagged answers): one that holds an answer cell of this assignment, or a quarter of its
course cells, is this assignment's notebook, and so is a readable one with the release's name. Of those, one with
the student's work in it (an answer that is not the stub) is graded before one without, so a fresh copy of the
release saved beside the real work never hides it; then the release's name wins. The others are named for the TAs,
and when none qualifies the student is told what was found instead.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..alignment import align, normalized, submitted_cells
from ..cells import grade_id, is_solution
from .notebook_file import NotReadable, read_notebook_cells

SHOWN_FILES = 8  # files listed in a message, at most
COURSE_CELL_SHARE = 0.25  # a notebook holding this share of the release's course cells (and no answer) still counts


@dataclass
class FoundNotebook:
    """The notebook to grade among a student's files, and what a student and a TA should know about the choice."""

    notebook: Path | None
    how: str = ""  # how it was found, when not by its exact name in the submission's folder ("" otherwise)
    others: list[str] = field(default_factory=list)  # other notebooks handed in and not graded, each with why (for TAs)
    problem: str = ""  # when no notebook is this assignment's: what was found, in words a student can act on


@dataclass(frozen=True)
class Match:
    path: Path
    cells_found: int  # release cells found in it
    answers_found: int
    answers_worked: int = 0  # answers whose text is not the release's stub: the student's work
    error: str = ""  # why it could not be read

    def why(self, release_cells: int) -> str:
        return self.error or f"{self.cells_found} of the assignment's {release_cells} cells found in it"


def candidate_notebooks(files: list[Path]) -> list[Path]:
    """Files that may be a notebook: `.ipynb` in the name, any case (a browser's `.ipynb.txt` too) or `.json`; never
    editors' checkpoints (an older copy of the same work)."""
    return [path for path in files if (".ipynb" in path.name.lower() or path.suffix.lower() == ".json")
            and ".ipynb_checkpoints" not in path.parts]


def find_notebook(files: list[Path], folder: Path, expected: str, release: nbformat.NotebookNode) -> FoundNotebook:
    """The assignment's notebook among `files` (the student's files under `folder`); `expected` is the release's file
    name. The one with the student's work comes first, then the release's name (nearest the top), then the most of
    the release's cells, then the name nearest the release's."""
    candidates = candidate_notebooks(files)
    if len(candidates) == 1 and candidates[0].name == expected and readable(candidates[0]):  # the usual case, without aligning
        return FoundNotebook(candidates[0], how=where(candidates[0], folder))
    matches = [match_with_release(path, release) for path in candidates]
    release_cells = sum(1 for cell in release.cells if grade_id(cell))
    named = [m for m in matches if m.path.name == expected and not m.error]
    qualified = [m for m in matches if is_this_assignment(m, release_cells) or m in named]
    if not qualified:
        return FoundNotebook(None, problem=nothing_found(files, folder, expected, matches, release_cells))
    best = max(qualified, key=lambda m: (m.answers_worked > 0, m in named, -len(m.path.parts), m.cells_found,
                                         name_likeness(m.path.name, expected), str(m.path)))
    others = [f"{shown(m.path, folder)} ({m.why(release_cells)})" for m in matches
              if m is not best and (".ipynb" in m.path.name.lower() or not m.error)]
    return FoundNotebook(best.path, how=how_found(best, folder, expected, named, release_cells), others=others)


def how_found(best: Match, folder: Path, expected: str, named: list[Match], release_cells: int) -> str:
    """Why this file was graded, for the student and the TAs ("" when it is the release's name where it belongs)."""
    if best in named:
        return where(best.path, folder)
    if named:
        return (f"graded {shown(best.path, folder)}, which holds your answers; {shown(named[0].path, folder)} holds none "
                "(it is the assignment as handed out)")
    return (f"no file named {expected} was handed in; graded {shown(best.path, folder)}, which is this assignment's "
            f"notebook by its content ({best.why(release_cells)})")


def where(path: Path, folder: Path) -> str:
    """For a notebook with the release's name: nothing to say at the top of the submission, else where it was."""
    return "" if path.parent == folder else f"graded {shown(path, folder)}, in a folder of your submission"


def readable(path: Path) -> bool:
    try:
        read_notebook_cells(path)
    except NotReadable:
        return False
    return True


def is_this_assignment(match: Match, release_cells: int) -> bool:
    return not match.error and (match.answers_found > 0 or match.cells_found >= COURSE_CELL_SHARE * release_cells)


def match_with_release(path: Path, release: nbformat.NotebookNode) -> Match:
    """How much of the release the notebook at `path` holds (an unreadable one: nothing, and why)."""
    try:
        cells = submitted_cells(read_notebook_cells(path).cells)
    except NotReadable as error:
        return Match(path, 0, 0, error=str(error))
    found = align(release, cells)
    stubs = {grade_id(cell): normalized(cell.source) for cell in release.cells if is_solution(cell)}
    ids = set(found.mapped.values())
    worked = {gid for index, gid in found.mapped.items() if gid in stubs and normalized(cells[index].source) != stubs[gid]}
    return Match(path, len(ids), len(ids & set(stubs)), len(worked))


def nothing_found(files: list[Path], folder: Path, expected: str, matches: list[Match], release_cells: int) -> str:
    """Why nothing could be graded, in words a student can act on: the files found, and what was wrong with notebooks."""
    if len(matches) == 1 and matches[0].error:
        return matches[0].error
    if not files:
        return f"no notebook of this assignment in your submission: it holds no files (expected {expected})"
    listed = ", ".join(shown(path, folder) for path in sorted(files)[:SHOWN_FILES])
    more = f" and {len(files) - SHOWN_FILES} more" if len(files) > SHOWN_FILES else ""
    detail = "; ".join(f"{shown(m.path, folder)}: {m.why(release_cells)}" for m in matches)
    return (f"no notebook of this assignment in your submission (expected {expected}): found {listed}{more}"
            + (f" ({detail})" if detail else ""))


def name_likeness(name: str, expected: str) -> float:
    return difflib.SequenceMatcher(None, name.lower(), expected.lower()).ratio()


def shown(path: Path, folder: Path) -> str:
    """A file as the student named it, relative to their submission."""
    try:
        return f"`{path.relative_to(folder).as_posix()}`"
    except ValueError:
        return f"`{path.name}`"
