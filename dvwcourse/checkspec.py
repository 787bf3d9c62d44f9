"""The checks of the master's test cells: what each expects, and the spec-free code a kernel runs.

A test cell calls `check(name, value, expect=..., rtol=..., atol=..., below=..., above=..., msg=...)`.
For grading, each call is rewritten to `check(name, value, site=K)`: the student's kernel only
computes and records values. What they are compared with (the master's values, the bounds) and the
messages stay here, in the grader's process.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Callable

import nbformat

from .settings import Course, CourseError

HIDDEN_MARKER = "### BEGIN HIDDEN TESTS"
SPEC_KEYWORDS = {"rtol", "atol", "below", "above", "msg"}


@dataclass(frozen=True)
class CheckSite:
    """One `check(...)` call of a test cell and how its values are judged."""

    site: int
    line: int
    hidden: bool
    source: str
    rtol: float = 1e-7
    atol: float = 0.0
    below: float | None = None
    above: float | None = None
    msg: str | None = None


@dataclass
class TestCell:
    grade_id: str
    points: float
    source: str  # the master's source, hidden tests included
    kernel_code: str  # what the grading kernel runs
    sites: dict[int, CheckSite] = field(default_factory=dict)


class _StripSpecs(ast.NodeTransformer):
    def __init__(self, cell: str) -> None:
        self.cell = cell
        self.calls: list[ast.Call] = []

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "check":
            if len(node.args) != 2 or any(k.arg is None for k in node.keywords):
                raise CourseError(f"test cell {self.cell}, line {node.lineno}: check() takes a name and a value, then keywords")
            self.calls.append(node)
            site = len(self.calls) - 1
            spec = ast.Call(func=node.func, args=node.args, keywords=[ast.keyword("site", ast.Constant(site))])
            return ast.copy_location(spec, node)
        return node


def parse_test_cell(grade_id: str, source: str, points: float) -> TestCell:
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise CourseError(f"test cell {grade_id}: {error}") from error
    hidden_from = next((n for n, line in enumerate(source.splitlines(), 1) if line.strip() == HIDDEN_MARKER), None)
    stripper = _StripSpecs(grade_id)
    kernel_tree = ast.fix_missing_locations(stripper.visit(tree))
    cell = TestCell(grade_id, points, source, ast.unparse(kernel_tree))
    for site, call in enumerate(stripper.calls):
        spec: dict[str, Any] = {}
        for keyword in call.keywords:
            if keyword.arg in SPEC_KEYWORDS:
                try:
                    spec[keyword.arg] = ast.literal_eval(keyword.value)
                except ValueError as error:
                    raise CourseError(f"test cell {grade_id}, line {call.lineno}: {keyword.arg}= must be a literal") from error
            elif keyword.arg != "expect":
                raise CourseError(f"test cell {grade_id}, line {call.lineno}: check() has no keyword {keyword.arg}")
        hidden = hidden_from is not None and call.lineno > hidden_from
        cell.sites[site] = CheckSite(site, call.lineno, hidden, ast.get_source_segment(source, call) or "", **spec)
    if not cell.sites:
        raise CourseError(f"test cell {grade_id} calls check() nowhere: it could never be graded")
    return cell


def master_test_cells(course: Course) -> dict[str, TestCell]:
    """Every autograded test cell of the master, by grade_id, in notebook order."""
    nb = nbformat.read(course.source_notebook, as_version=4)
    cells = {}
    for cell in nb.cells:
        nbg = cell.metadata.get("nbgrader", {})
        if nbg.get("grade") and not nbg.get("solution") and cell.cell_type == "code":
            cells[nbg["grade_id"]] = parse_test_cell(nbg["grade_id"], cell.source, course.points[nbg["grade_id"]])
    return cells


def load_compare(course: Course) -> Callable[..., str | None]:
    """The master's own `compare` (its setup_compare cell), so students and grader judge alike."""
    nb = nbformat.read(course.source_notebook, as_version=4)
    source = next((c.source for c in nb.cells if c.id == "setup_compare"), None)
    if source is None:
        raise CourseError(f"{course.source_notebook}: no setup_compare cell defining compare()")
    namespace: dict[str, Any] = {}
    exec(compile(source, f"{course.source_notebook}:setup_compare", "exec"), namespace)
    return namespace["compare"]
