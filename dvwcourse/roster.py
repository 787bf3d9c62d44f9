"""The class list: the roster (who may submit, with names, email and LMS user id) and per-student due dates.

Both are CSV files named in course.yml (`lms.roster`, `lms.extensions`). The roster's columns are those of
nbgrader's student records (and of `nbgrader db student import`): id, first_name, last_name, email,
lms_user_id.
"""
from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .settings import Course, CourseError

ROSTER_COLUMNS = ["id", "first_name", "last_name", "email", "lms_user_id"]


@dataclass(frozen=True)
class Student:
    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_user_id: str = ""


def read_roster(course: Course) -> dict[str, Student] | None:
    """The students of course.yml's lms.roster, by id; None when the course has no roster."""
    path = course.roster_csv
    if path is None:
        return None
    students: dict[str, Student] = {}
    for line, row in read_csv_rows(path, ["id"]):
        fields = {name: row.get(name, "").strip() for name in ROSTER_COLUMNS}
        if not fields["id"]:
            raise CourseError(f"{path}, line {line}: no student id")
        if fields["id"] in students:
            raise CourseError(f"{path}, line {line}: student {fields['id']} is listed twice")
        students[fields["id"]] = Student(**fields)
    return students


def read_extensions(course: Course) -> dict[str, datetime]:
    """Per-student due dates from course.yml's lms.extensions CSV (columns student, due: ISO 8601 with a zone)."""
    path = course.extensions_csv
    if path is None:
        return {}
    rows = read_csv_rows(path, ["student", "due"])
    extensions = {}
    for line, row in rows:
        try:
            due = datetime.fromisoformat(row["due"].strip())
        except ValueError as error:
            raise CourseError(f"{path}, line {line}: due {row['due']!r} is not an ISO 8601 time ({error})") from error
        if due.tzinfo is None:
            raise CourseError(f"{path}, line {line}: due {row['due']!r} has no time zone (e.g. 2026-12-06T17:00:00+01:00)")
        extensions[row["student"].strip()] = due
    return extensions


def read_csv_rows(path: Path, required: list[str]) -> list[tuple[int, dict[str, str]]]:
    """The rows of a UTF-8 CSV (a spreadsheet's byte-order mark allowed) with their line numbers, after
    checking that the header names every required column."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in required if name not in (reader.fieldnames or [])]
            if missing:
                raise CourseError(f"{path}: missing column(s) {', '.join(missing)} (the header has: {', '.join(reader.fieldnames or [])})")
            return [(reader.line_num, {k: (v or "") for k, v in row.items() if k is not None}) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise CourseError(f"{path}: cannot be read as a CSV file ({type(error).__name__}: {error})") from error


def find_on_roster(roster: dict[str, Student], student_id: str = "", lms_user_id: str = "", full_name: str = "") -> str | None:
    """The roster id of the student an LMS download names: by course id, else LMS user id, else full name ("Ada
    Lovelace", "Lovelace, Ada" or Canvas's "lovelaceada": any order, case, accents or punctuation). None when no one
    matches, or several do (never a guess)."""
    if student_id in roster:
        return student_id
    by_lms_id = [s.id for s in roster.values() if lms_user_id and s.lms_user_id == lms_user_id]
    if by_lms_id:
        return by_lms_id[0] if len(by_lms_id) == 1 else None
    wanted = squashed(full_name)
    by_name = [s.id for s in roster.values() if wanted and wanted in (squashed(s.first_name + s.last_name), squashed(s.last_name + s.first_name))]
    return by_name[0] if len(by_name) == 1 else None


def squashed(name: str) -> str:
    """A name without case, accents, spaces or punctuation: how LMSs' spellings of one name compare equal."""
    letters = unicodedata.normalize("NFKD", name)
    return "".join(c for c in letters if c.isalnum() and not unicodedata.combining(c)).casefold()
