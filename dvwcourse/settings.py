"""The course's settings, read from course.yml."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


class CourseError(Exception):
    """A problem with the course directory or its settings, with the file it concerns."""


@dataclass(frozen=True)
class Course:
    root: Path
    course_id: str
    assignment_id: str
    notebook: str
    title: str
    points: dict[str, float]
    budget_env_var: str
    full_budget: float
    grading_budget: float
    cell_timeout: int
    benign_stderr_warnings: tuple[str, ...]

    @property
    def source_notebook(self) -> Path:
        return self.root / "source" / self.assignment_id / f"{self.notebook}.ipynb"

    @property
    def release_notebook(self) -> Path:
        return self.root / "release" / self.assignment_id / f"{self.notebook}.ipynb"

    def submitted_notebook(self, student: str) -> Path:
        return self.root / "submitted" / student / self.assignment_id / f"{self.notebook}.ipynb"

    def autograded_notebook(self, student: str) -> Path:
        return self.root / "autograded" / student / self.assignment_id / f"{self.notebook}.ipynb"

    @property
    def grading_env(self) -> dict[str, str]:
        """Environment for kernels that grade: the small training budget, no progress bars."""
        return {self.budget_env_var: str(self.grading_budget), "TQDM_DISABLE": "1"}


def find_course_root(start: Path | None = None) -> Path:
    """The nearest folder, from `start` (default: the working folder) upwards, holding course.yml."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "course.yml").is_file():
            return folder
    raise CourseError(f"no course.yml in {start} or any folder above it")


def load_course(root: Path | None = None) -> Course:
    root = find_course_root(root)
    path = root / "course.yml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        assignment, budget, limits = raw["assignment"], raw["budget"], raw["limits"]
        return Course(
            root=root,
            course_id=str(raw["course_id"]),
            assignment_id=str(assignment["id"]),
            notebook=str(assignment["notebook"]),
            title=str(assignment["title"]),
            points={str(k): float(v) for k, v in raw["points"].items()},
            budget_env_var=str(budget["env_var"]),
            full_budget=float(budget["full"]),
            grading_budget=float(budget["grading"]),
            cell_timeout=int(limits["cell_timeout_seconds"]),
            benign_stderr_warnings=tuple(str(w) for w in raw.get("benign_stderr_warnings", [])),
        )
    except (yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise CourseError(f"{path}: invalid settings ({type(error).__name__}: {error})") from error
