"""Read a handed-in .ipynb file as a list of cells, whatever wrote it, or say in a student's words why it cannot be.

Forgiving of what editors and downloads do to the bytes: a byte-order mark (some Windows editors), bytes that are not
UTF-8 (replaced, with a note), nbformat 3 (notebooks saved by Jupyter before 2015, converted with nbformat). Refused,
with the reason: an empty file, a file that is not JSON, JSON that holds no cells.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v3.rwbase import rejoin_lines


class NotReadable(Exception):
    """Why a file is not a notebook that can be graded, naming the file (for the student and the TAs)."""


@dataclass
class NotebookCells:
    cells: list  # the raw cell dicts (anything JSON holds: the caller checks each one)
    notes: list[str] = field(default_factory=list)  # what was forgiven about the file


def read_notebook_cells(path: Path) -> NotebookCells:
    """The cells of the notebook at `path`. Raises NotReadable (never anything else) with the reason."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise NotReadable(f"{path}: cannot be read ({error.strerror})") from None
    if not raw.strip():
        raise NotReadable(f"{path.name} is empty ({len(raw)} bytes): it holds no notebook")
    notes = []
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark is not part of the JSON
    except UnicodeDecodeError as error:
        text = raw.decode("utf-8-sig", errors="replace")
        notes.append(f"{path.name} is not valid UTF-8 (byte {error.start}); undecodable bytes were replaced")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotReadable(f"{path.name} is not a notebook: invalid JSON at line {error.lineno}, column {error.colno} ({error.msg})") from None
    except RecursionError:
        raise NotReadable(f"{path.name} is not a notebook: its JSON is nested too deeply") from None
    if isinstance(data, dict) and data.get("nbformat") == 3:
        data = _upgraded_from_v3(path, data)
        notes.append(f"{path.name} is in the old notebook format 3; it was converted to format 4")
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise NotReadable(f"{path.name} is not a notebook: it has no list of cells")
    return NotebookCells(cells, notes)


def _upgraded_from_v3(path: Path, data: dict) -> dict:
    """nbformat 3 keeps its cells in worksheets, its code in `input` and its text as lists of lines: nbformat's own
    reader joins the lines and its converter makes it format 4."""
    try:
        return nbformat.convert(rejoin_lines(nbformat.from_dict(data)), 4)
    except Exception as error:  # nbformat raises many types on malformed old notebooks
        raise NotReadable(f"{path.name} is not a notebook: it claims the old format 3 but cannot be converted "
                          f"({type(error).__name__})") from None
