"""Judge the values a student's kernel recorded against the master's, in the grader's process."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

from .checkspec import CheckSite, TestCell
from .execution import CheckRecord


@dataclass
class CheckVerdict:
    name: str
    passed: bool
    hidden: bool
    message: str  # for the student: never the expected value of a hidden check
    site: CheckSite


@dataclass
class CellVerdict:
    grade_id: str
    points: float
    max_points: float
    checks: list[CheckVerdict] = field(default_factory=list)
    error: str = ""  # the error the cell stopped on, if any
    flags: list[str] = field(default_factory=list)  # signs of tampering, for a person to look at


def judge_cell(
    cell: TestCell, expected: list[CheckRecord], got: list[CheckRecord], compare: Callable[..., str | None], error: str = "",
) -> CellVerdict:
    """Full points when every check the master recorded in this cell was recorded once and passes."""
    verdict = CellVerdict(cell.grade_id, 0.0, cell.points, error=error)
    by_name: dict[str, list[CheckRecord]] = defaultdict(list)
    for record in got:
        by_name[record.name].append(record)
    known = {record.name for record in expected}
    unknown = sorted(set(by_name) - known)
    if unknown:
        verdict.flags.append(f"{len(unknown)} check records the master never makes (e.g. {unknown[0]!r})")
    for master_record in expected:
        site = cell.sites[master_record.site]
        records = by_name.get(master_record.name, [])
        if len(records) > 1:
            verdict.flags.append(f"check {master_record.name!r} recorded {len(records)} times")
            verdict.checks.append(CheckVerdict(master_record.name, False, site.hidden, "recorded more than once", site))
            continue
        if not records:
            reason = f"not reached ({error})" if error else "not reached"
            verdict.checks.append(CheckVerdict(master_record.name, False, site.hidden, reason, site))
            continue
        problem = judge_value(records[0].value, master_record.value, site, compare)
        verdict.checks.append(CheckVerdict(master_record.name, problem is None, site.hidden, message_for(site, problem), site))
    if verdict.checks and all(check.passed for check in verdict.checks):
        verdict.points = cell.points
    return verdict


def judge_value(value: Any, master_value: Any, site: CheckSite, compare: Callable[..., str | None]) -> str | None:
    if site.below is not None or site.above is not None:
        return compare(value, below=site.below, above=site.above)
    return compare(value, master_value, site.rtol, site.atol)


def message_for(site: CheckSite, problem: str | None) -> str:
    if problem is None:
        return "passed"
    if site.hidden:  # the problem text would reveal the expected value
        return site.msg or "this value is not what the exercise asks for"
    return f"{site.msg + ' ' if site.msg else ''}({problem})"
