"""The plain data that flows through grading: check sites, verdicts, reports and evaluations.

Nothing heavy is imported here, so every stage (judge, workers, results, reports) can share these
types without importing the engine, nbclient or torch.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nbformat import NotebookNode

PENDING = "pending"  # status of a submission left for the next run (the disk was nearly full)


@dataclass(frozen=True)
class CheckSite:
    """One `check(...)` call of a test cell: where it is and how a failure is explained."""

    site: int
    line: int
    end_line: int
    hidden: bool
    source: str
    msg: str | None = None


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
    title: str = ""  # the exercise it checks, as the notebook names it
    remarks: list[str] = field(default_factory=list)  # how its answer was found, when not by its tag

    @property
    def checks_to_revisit_first(self) -> list[CheckVerdict]:
        """Failed checks before passed ones (each group in the cell's order)."""
        return sorted(self.checks, key=lambda check: check.passed)


@dataclass
class GradeReport:
    student: str
    status: str  # graded | incomplete (some cells could not run) | unreadable | error | pending (not recorded)
    score: float
    max_score: float
    cells: list[CellVerdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    seconds: float = 0.0
    sandboxed: bool = False  # whether its kernel ran in the sandbox (on whichever worker graded it)
    kernels: int = 0  # kernels started for it, whatever its outcome
    skipped: bool = False  # unchanged since the last grading: its earlier result
    graded_file: str = ""  # the name of the file graded, as handed in
    found: str = ""  # how that file was found, when not by its name where nbgrader puts it

    @property
    def graded(self) -> bool:
        return self.status in ("graded", "incomplete")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as the rerun state stores it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GradeReport:
        """The inverse of `to_dict`."""
        cells = [
            CellVerdict(**{**cell, "checks": [CheckVerdict(**{**check, "site": CheckSite(**check["site"])}) for check in cell["checks"]]})
            for cell in data["cells"]
        ]
        return cls(**{**data, "cells": cells})


@dataclass
class Evaluation:
    """A submission judged but not yet recorded: what a worker hands back to the one writer."""

    report: GradeReport
    digest: str
    notebook: NotebookNode | None = None  # the graded notebook, outputs included
    written: dict[str, bool] = field(default_factory=dict)  # written answers, and whether answered
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def failed(cls, student: str, status: str, max_score: float, *notes: str) -> Evaluation:
        """An evaluation with no score: the notes say why."""
        return cls(GradeReport(student, status, 0.0, max_score, notes=list(notes)), "")
