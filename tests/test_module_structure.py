"""The package's shape: no import cycle among its modules, and one module that reads nbgrader's cell metadata."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import dvwcourse

PACKAGE = Path(dvwcourse.__file__).parent


def module_name(path: Path) -> str:
    """A module's dotted name inside the package: `records`, `kernel.execution`."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_imports() -> dict[str, set[str]]:
    """module -> the package's modules it imports (at any level, TYPE_CHECKING blocks included)."""
    paths = list(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    graph = {}
    for path in paths:
        name = module_name(path)
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[:len(package) - node.level + 1] + (node.module.split(".") if node.module else [])
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dvwcourse"):
                base = node.module.split(".")[1:]
            else:
                continue
            imported |= {".".join(base)} | {".".join(base + [alias.name]) for alias in node.names}
        graph[name] = imported & modules - {name, ""}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a path of module names, or [] when there is none."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(module: str) -> list[str]:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[module] = "done"
        path.pop()
        return []

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return []


def test_find_cycle_sees_a_cycle_and_its_absence():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_the_package_has_no_import_cycle():
    assert find_cycle(package_imports()) == []


def test_plain_data_imports_nothing_of_the_package():
    graph = package_imports()
    assert graph["records"] == set() and graph["cells"] == set()
    assert "safe_grading" not in graph["workers"] | graph["results"] | graph["progress"] | graph["class_report"]


# Reading nbgrader's metadata by hand: a get of the "nbgrader" key, or metadata.nbgrader.
READS_NBGRADER_METADATA = re.compile(r"""\.get\(["']nbgrader["']|metadata\.nbgrader\b""")


def test_only_the_cell_vocabulary_reads_nbgrader_metadata():
    assert READS_NBGRADER_METADATA.search("x = cell.metadata.get('nbgrader', {})")
    readers = [path.name for path in PACKAGE.rglob("*.py") if READS_NBGRADER_METADATA.search(path.read_text(encoding="utf-8"))]
    assert readers == ["cells.py"]
