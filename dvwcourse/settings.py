"""The course's settings, read from course.yml."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


class CourseError(Exception):
    """A problem with the course directory or its settings, with the file it concerns."""


# Defaults for settings that older course.yml files do not have.
DEFAULT_WORK_FOLDER_BYTES = 200_000_000
DEFAULT_MIN_FREE_DISK_BYTES = 200_000_000


@dataclass(frozen=True)
class SandboxSettings:
    enabled: bool
    required: bool  # a worker that cannot sandbox refuses to grade (records an error, never a score)
    cell_seconds: int
    notebook_seconds: int
    memory_bytes: int
    max_processes: int
    max_output_bytes_per_cell: int
    max_file_bytes: int
    scratch_tmpfs_bytes: int  # the kernel's /tmp
    work_folder_bytes: int = DEFAULT_WORK_FOLDER_BYTES  # the kernel's working folder, also its HOME
    warm_kernels: bool = True  # fork each kernel from a template that ran the setup cells (dvwcourse.warm_kernels)


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
    benign_stderr_warnings: tuple[str, ...]
    sandbox: "SandboxSettings"
    show_hidden_test_source: bool
    zip_filename_regexp: str
    gradebook_url: str
    min_free_disk_bytes: int = DEFAULT_MIN_FREE_DISK_BYTES  # below this, grading stops recording

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
    def state_dir(self) -> Path:
        """The grading tools' own files: rerun state, master values, the batch lock."""
        return self.root / "autograded" / ".dvwcourse"

    @property
    def grading_env(self) -> dict[str, str]:
        """Environment for kernels that grade: the small training budget, no progress bars."""
        return {self.budget_env_var: str(self.grading_budget), "TQDM_DISABLE": "1"}


def megabytes(size: int) -> str:
    """A size from course.yml as people read it: 200000000 -> "200"."""
    return f"{round(size / 1e6, 1):g}"


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
        assignment, budget, limits, sandbox = raw["assignment"], raw["budget"], raw["limits"], raw["sandbox"]
        if not sandbox["enabled"] and sandbox.get("required", True):
            raise ValueError("sandbox.enabled is false but sandbox.required is true: set required: false to grade unsandboxed")
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
            benign_stderr_warnings=tuple(str(w) for w in raw.get("benign_stderr_warnings", [])),
            sandbox=SandboxSettings(
                enabled=bool(sandbox["enabled"]),
                required=bool(sandbox.get("required", True)),
                cell_seconds=int(limits["cell_timeout_seconds"]),
                notebook_seconds=int(sandbox["notebook_timeout_seconds"]),
                memory_bytes=int(sandbox["memory_bytes"]),
                max_processes=int(sandbox["max_processes"]),
                max_output_bytes_per_cell=int(sandbox["max_output_bytes_per_cell"]),
                max_file_bytes=int(sandbox["max_file_bytes"]),
                scratch_tmpfs_bytes=int(sandbox["scratch_tmpfs_bytes"]),
                work_folder_bytes=int(sandbox.get("work_folder_bytes", DEFAULT_WORK_FOLDER_BYTES)),
                warm_kernels=bool(sandbox.get("warm_kernels", True)),
            ),
            show_hidden_test_source=bool(raw.get("feedback", {}).get("show_hidden_test_source", False)),
            zip_filename_regexp=str(raw["zip_filename_regexp"]),
            gradebook_url=str(raw.get("gradebook_url") or ""),
            min_free_disk_bytes=int(raw.get("min_free_disk_bytes", DEFAULT_MIN_FREE_DISK_BYTES)),
        )
    except (yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise CourseError(f"{path}: invalid settings ({type(error).__name__}: {error})") from error
