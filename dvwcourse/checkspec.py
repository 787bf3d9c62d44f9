"""The master's test cells, read once: their checks, the student's names they read, and the library.

A test cell calls `check(name, value, expect=..., rtol=..., atol=..., below=..., above=..., msg=...)`
and lists, in a visible `require("name", ...)` call, every name of the student's that it reads. That
list is the contract with the student: the task text states those names, the visible check fails
locally with a clear message when one is missing, and the grader reads exactly those names from the
kernel. The rules are enforced here, when the course is loaded, so a master that breaks them never
grades anyone.

The *library* is the master's locked code cells before the first answer cell (imports, helpers,
`check`, `compare`, the course's own building blocks): trusted code that the grader runs in its own process too.
"""
from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass, field

import nbformat
from .cells import grade_id, is_grade, is_locked, is_solution, is_test_cell
from .records import CheckSite
from .settings import Course, CourseError

HIDDEN_MARKER = "### BEGIN HIDDEN TESTS"
CHECK_KEYWORDS = {"expect", "rtol", "atol", "below", "above", "msg"}
LIBRARY_NEEDS = ("compare", "as_plain")  # the grader runs the course's own comparison, as the visible checks do


@dataclass
class TestCell:
    grade_id: str
    points: float
    source: str  # the master's source, hidden tests included
    required: set[str] = field(default_factory=set)  # the student's names the cell reads
    sites: dict[int, CheckSite] = field(default_factory=dict)
    assigned: set[str] = field(default_factory=set)  # names the cell defines (later cells may read them)

    def site_at(self, line: int) -> CheckSite:
        """The check call that spans `line` (the innermost, if calls nest)."""
        spanning = [s for s in self.sites.values() if s.line <= line <= s.end_line]
        if spanning:
            return min(spanning, key=lambda s: s.end_line - s.line)
        hidden = any(s.hidden for s in self.sites.values()) and line > min(s.line for s in self.sites.values() if s.hidden)
        return CheckSite(-1, line, line, hidden, "")


def library_sources(nb: nbformat.NotebookNode) -> list[str]:
    """The locked code cells before the first answer cell: the course's trusted helpers."""
    return [nb.cells[index].source for index in library_indexes(nb)]


def library_indexes(nb: nbformat.NotebookNode) -> list[int]:
    """Where the library cells are in `nb`."""
    indexes = []
    for index, cell in enumerate(nb.cells):
        if is_solution(cell):
            break
        if cell.cell_type == "code" and is_locked(cell) and not is_grade(cell):
            indexes.append(index)
    return indexes


def names_assigned(tree: ast.AST) -> set[str]:
    """Every name the code binds anywhere: assignments, loop targets, definitions, imports, parameters."""
    names = set()
    for node in ast.walk(tree):
        names |= _bound_by(node)
    return names


def module_names(tree: ast.Module) -> set[str]:
    """The names the code binds at module level, which other cells can then read."""
    names: set[str] = set()
    pending = list(ast.iter_child_nodes(tree))
    while pending:
        node = pending.pop()
        names |= {n for n in _bound_by(node) if not isinstance(node, ast.arg)}
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.comprehension,
                                 ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            pending.extend(ast.iter_child_nodes(node))
    return names


def _bound_by(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return {node.id}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, ast.arg):
        return {node.arg}
    if isinstance(node, ast.alias):
        return {(node.asname or node.name).split(".")[0]}
    if isinstance(node, ast.ExceptHandler) and node.name:
        return {node.name}
    return set()


def names_read(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _calls(tree: ast.AST, function: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == function]


def parse_test_cell(grade_id: str, source: str, points: float, known: set[str] = frozenset()) -> TestCell:
    """Read one test cell. `known`: names the library and the earlier test cells define."""
    where = f"test cell {grade_id}"
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise CourseError(f"{where}: {error}") from error
    hidden_from = next((n for n, line in enumerate(source.splitlines(), 1) if line.strip() == HIDDEN_MARKER), None)
    cell = TestCell(grade_id, points, source, assigned=module_names(tree))
    for call in _calls(tree, "require"):
        if hidden_from is not None and call.lineno > hidden_from:
            raise CourseError(f"{where}, line {call.lineno}: require() belongs in the visible part, so students see what is read")
        for arg in call.args:
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                raise CourseError(f"{where}, line {call.lineno}: require() takes names as string literals")
            cell.required.add(arg.value)
    for index, call in enumerate(sorted(_calls(tree, "check"), key=lambda c: (c.lineno, c.col_offset))):
        if len(call.args) != 2 or any(k.arg not in CHECK_KEYWORDS for k in call.keywords):
            raise CourseError(f"{where}, line {call.lineno}: check() takes a name and a value, then keywords {sorted(CHECK_KEYWORDS)}")
        if not any(k.arg in ("expect", "below", "above") for k in call.keywords):
            raise CourseError(f"{where}, line {call.lineno}: check() needs expect=, below= or above=")
        msg = next((k.value for k in call.keywords if k.arg == "msg"), None)
        if msg is not None and not (isinstance(msg, ast.Constant) and isinstance(msg.value, str)):
            raise CourseError(f"{where}, line {call.lineno}: msg= must be a string literal (it is shown to students)")
        hidden = hidden_from is not None and call.lineno > hidden_from
        cell.sites[index] = CheckSite(index, call.lineno, call.end_lineno or call.lineno, hidden,
                                      ast.get_source_segment(source, call) or "", msg.value if msg is not None else None)
    if not cell.sites:
        raise CourseError(f"{where} calls check() nowhere: it could never be graded")
    _check_contract(where, cell, tree, known)
    return cell


def _check_contract(where: str, cell: TestCell, tree: ast.AST, known: set[str]) -> None:
    """Every name of the student's that the cell reads is in its visible require(...), and only those."""
    defined_here = names_assigned(tree) | known | set(dir(builtins))
    unlisted = sorted(names_read(tree) - defined_here - cell.required)
    if unlisted:
        raise CourseError(f"{where}: reads {', '.join(unlisted)} without listing them in require(...)")
    clashing = sorted(cell.required & (cell.assigned | known))
    if clashing:
        raise CourseError(f"{where}: requires {', '.join(clashing)}, which the library or the tests define themselves")


EXERCISE_HEADING = re.compile(r"^#+\s*(Exercise \d+.*?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Exercise:
    title: str  # "Exercise 3: Make a data set"
    answers: tuple[str, ...]  # grade_ids of the answer cells the test cell checks (those since the previous test cell)


def exercises(nb: nbformat.NotebookNode) -> dict[str, Exercise]:
    """For each test cell, by grade_id: the exercise heading above it and the answer cells it checks."""
    found: dict[str, Exercise] = {}
    title, answers = "", []
    for cell in nb.cells:
        heading = EXERCISE_HEADING.findall(cell.source) if cell.cell_type == "markdown" else []
        title = heading[-1] if heading else title
        if is_solution(cell) and cell.cell_type == "code":
            answers.append(grade_id(cell))
        elif is_test_cell(cell):
            found[grade_id(cell)] = Exercise(title or grade_id(cell), tuple(answers))
            answers = []
    return found


def master_test_cells(course: Course, nb: nbformat.NotebookNode, library_names: set[str]) -> dict[str, TestCell]:
    """Every autograded test cell of the master, by grade_id, in notebook order."""
    cells: dict[str, TestCell] = {}
    known = set(library_names)
    missing = [name for name in LIBRARY_NEEDS if name not in library_names]
    if missing and any(is_test_cell(cell) for cell in nb.cells):
        raise CourseError(f"{course.source_notebook}: the library (the locked code cells before the first answer) defines no "
                          f"{' or '.join(missing)}, which the grader judges every check with")
    for cell in nb.cells:
        if is_test_cell(cell):
            gid = grade_id(cell)
            if gid not in course.points:
                raise CourseError(f"{course.root / 'course.yml'}: no points for test cell {gid}")
            test = parse_test_cell(gid, cell.source, course.points[gid], known)
            known |= test.assigned
            cells[gid] = test
    return cells
