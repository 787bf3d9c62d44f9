"""What a student may read about a check: the grader's own words, never a hidden expectation or kernel text."""
from __future__ import annotations

from typing import Any

from .records import CheckSite


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
