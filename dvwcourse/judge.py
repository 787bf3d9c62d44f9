"""Verdicts on a submission's checks, and what a student may read about them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .records import CheckSite


@dataclass
class CheckVerdict:
    name: str
    passed: bool
    hidden: bool
    message: str  # for the student: never the expected value of a hidden check, never kernel text
    site: CheckSite


@dataclass
class CellVerdict:
    grade_id: str
    points: float
    max_points: float
    checks: list[CheckVerdict] = field(default_factory=list)
    error: str = ""  # why the cell stopped early, in the grader's own words
    flags: list[str] = field(default_factory=list)  # for a person to look at
    unreached: int = 0  # checks the master makes here that did not run
    details: str = ""  # what the kernel said about the error: for TAs only, it may quote anything


def message_for(site: CheckSite, problem: str | None, value: Any = None) -> str:
    """What the feedback says about one check."""
    if problem is None:
        return "passed"
    if site.hidden:  # the problem text would reveal the expected value
        return site.msg or "this value is not what the exercise asks for"
    if _has_text(value):  # text a kernel chose could carry anything, hidden inputs included
        problem = "got text where a number was expected"
    return f"{site.msg + ' ' if site.msg else ''}({problem})"


def _has_text(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, list) and any(_has_text(item) for item in value)
