"""Which cell of a submission is which cell of the release, however the student edited the notebook.

A submitted cell is the release's cell X when its nbgrader grade_id is X, else when its cell id is
X (an editor that drops metadata keeps ids), else when its text equals X's and X is a locked or test
cell (a course cell that lost both). An answer that lost its tag is then looked for between the
release cells found around it (`align`, a sequence alignment of the two lists of cells): among the
untagged cells there, the code cell whose lines contain the stub's signature line (a `def` line,
a seeding call, ...), or for a written answer, the one text cell. One match
is that answer, and narrows the search for its neighbours; a code answer found nowhere near its place
is looked for in the whole notebook. Several candidates are named, never guessed. Every
other cell is the student's own: where it goes in the graded notebook is decided in assemble.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import nbformat

from .cells import grade_id, is_solution, raw_claims_course_cell, raw_grade_id

PLACEHOLDERS = ("# YOUR CODE HERE", "raise NotImplementedError()", "YOUR ANSWER HERE")


@dataclass(frozen=True)
class SubmittedCell:
    """One cell of the submitted file, as plain data."""

    index: int  # its place among the file's cells
    cell_type: str
    source: str
    tag: str | None  # the grade_id the file gives it, else its cell id
    claims_course_cell: bool  # its nbgrader metadata says locked or test


@dataclass
class Alignment:
    """What each submitted cell is."""

    mapped: dict[int, str] = field(default_factory=dict)  # submitted index -> the release cell it is
    recovered: dict[str, int] = field(default_factory=dict)  # answers found without their tag -> submitted index
    ambiguous: dict[str, list[int]] = field(default_factory=dict)  # answers with several untagged candidates
    refused: list[int] = field(default_factory=list)  # cells claiming to be course cells the release does not have: never run

    def copies(self, answer: str) -> list[int]:
        """The submitted cells that are `answer`, in the file's order."""
        return sorted(index for index, gid in self.mapped.items() if gid == answer)


def submitted_cells(raw: list) -> list[SubmittedCell]:
    """A file's cells as plain data (anything that is not a code, text or raw cell is dropped)."""
    kept = (cell for cell in raw if isinstance(cell, dict) and cell.get("cell_type") in ("code", "markdown", "raw"))
    return [SubmittedCell(n, cell["cell_type"], _text(cell.get("source", "")), raw_grade_id(cell) or _cell_id(cell),
                          raw_claims_course_cell(cell)) for n, cell in enumerate(kept)]


def _text(source: object) -> str:
    return "".join(str(s) for s in source) if isinstance(source, list) else str(source)


def _cell_id(cell: dict) -> str | None:
    return cell.get("id") if isinstance(cell.get("id"), str) else None


def normalized(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def signature(stub: str) -> str | None:
    """The stub's first line of code, the part a student keeps when re-creating the cell; None if it has none."""
    for line in stub.splitlines():
        code = _code_of(line)
        if code and not any(code == _code_of(p) for p in PLACEHOLDERS):
            return code[: code.index("(") + 1] if code.startswith("def") else code
    return None


def _code_of(line: str) -> str:
    """A line without its comment and its spaces (a comment-only line gives "")."""
    return "".join(line.split("#", 1)[0].split())


def code_lines(source: str) -> set[str]:
    """The cell's distinct lines of code, without comments and spaces."""
    return {_code_of(line) for line in source.splitlines()}


def looks_like(cell: SubmittedCell, stub: nbformat.NotebookNode, key: str | None, lines: set[str]) -> bool:
    """Whether an untagged cell (its `lines` of code) could be the answer `stub` stands for: a code answer's
    cell keeps the stub's signature line `key`; a written answer is any text where the release has it."""
    if cell.cell_type != stub.cell_type or not cell.source.strip():
        return False
    if stub.cell_type == "markdown":
        return True
    return key is not None and (any(line.startswith(key) for line in lines) if key.startswith("def") else key in lines)


def align(release: nbformat.NotebookNode, cells: list[SubmittedCell]) -> Alignment:
    """Map the submitted cells onto the release's cells."""
    order = [grade_id(c) for c in release.cells]
    position = {gid: n for n, gid in enumerate(order) if gid is not None}  # an untagged release cell is no cell a tag names
    stubs = {grade_id(c): c for c in release.cells if is_solution(c)}
    course_text = {normalized(c.source): grade_id(c) for c in release.cells if not is_solution(c) and c.source.strip()}
    result = Alignment()
    for cell in cells:
        text_of = course_text.get(normalized(cell.source))
        if cell.tag in position:
            result.mapped[cell.index] = cell.tag
        elif text_of is not None:
            result.mapped[cell.index] = text_of
        elif cell.claims_course_cell:
            result.refused.append(cell.index)
    anchors = _in_order(order, cells, result.mapped)
    missing = [gid for gid in order if gid in stubs and not result.copies(gid)
               and (stubs[gid].cell_type == "markdown" or signature(stubs[gid].source))]
    candidates: dict[str, list[int]] = {}
    lines = {c.index: code_lines(c.source) for c in cells if c.cell_type == "code" and c.index not in result.mapped}
    keys = {gid: signature(stubs[gid].source) for gid in missing}
    lookalikes = {gid: [c.index for c in cells if looks_like(c, stubs[gid], keys[gid], lines.get(c.index, set()))] for gid in missing}

    def unclaimed(gid: str, low: int = -1, high: int = len(cells)) -> list[int]:
        return [n for n in lookalikes[gid] if low < n < high and n not in result.mapped and n not in result.refused]

    found = True
    while found:  # each answer found narrows the search for its neighbours
        found = False
        for gid in [g for g in missing if g not in result.recovered]:
            low = max((s for s, r in anchors if r < position[gid]), default=-1)
            high = min((s for s, r in anchors if r > position[gid]), default=len(cells))
            candidates[gid] = unclaimed(gid, low, high)
            if len(candidates[gid]) == 1:
                result.mapped[candidates[gid][0]] = gid
                result.recovered[gid] = candidates[gid][0]
                anchors = sorted(anchors + [(candidates[gid][0], position[gid])])
                found = True
        if not found:  # a code answer moved away from its place (below its check, say): one match anywhere is it
            for gid in [g for g in missing if g not in result.recovered and not candidates[g] and stubs[g].cell_type == "code"]:
                candidates[gid] = unclaimed(gid)
                if len(candidates[gid]) == 1:
                    result.mapped[candidates[gid][0]] = gid
                    result.recovered[gid] = candidates[gid][0]
                    found = True
    result.ambiguous = {gid: candidates[gid] for gid in missing if gid not in result.recovered and len(candidates.get(gid, [])) > 1}
    return result


def _in_order(order: list[str], cells: list[SubmittedCell], mapped: dict[int, str]) -> list[tuple[int, int]]:
    """(submitted index, release position) of the mapped cells that keep the release's order (a sequence
    alignment of the two lists of cells; a cell the student moved far away is not an anchor)."""
    submitted = [mapped.get(c.index, f"\0unmapped {c.index}") for c in cells]
    matcher = difflib.SequenceMatcher(None, order, submitted, autojunk=False)
    return [(cells[block.b + k].index, block.a + k) for block in matcher.get_matching_blocks() for k in range(block.size)]
