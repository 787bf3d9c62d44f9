"""Validate a notebook the way nbgrader does, with an honest verdict (nbgrader's CLI exits 0)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.validator import Validator

from .nbgrader_api import course_config, ensure_tools_on_path
from .settings import Course


@dataclass
class ValidationResult:
    path: Path
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_notebook(course: Course, path: Path) -> ValidationResult:
    """Execute `path` and report every test cell that fails, every changed or retyped cell."""
    ensure_tools_on_path()
    result = ValidationResult(path)
    if not path.is_file():
        result.problems.append(f"{path}: no such notebook")
        return result
    try:
        found = Validator(config=course_config(course)).validate(str(path))
    except Exception as error:  # unreadable JSON, a kernel that will not start, ...
        result.problems.append(f"{path}: could not validate ({type(error).__name__}: {error})")
        return result
    for cell in found.get("type_changed", []):
        result.problems.append(f"cell changed type from {cell['old_type']} to {cell['new_type']}:\n{cell['source']}")
    for cell in found.get("changed", []):
        result.problems.append(f"a cell that must not change was edited:\n{cell['source']}")
    for cell in found.get("failed", []):
        result.problems.append(f"test failed:\n{cell['source']}\n{cell['raw_error']}")
    return result
