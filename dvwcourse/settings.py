"""The course's settings as the tools use them, read from course.yml (checked against course_schema)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml
from pydantic import ValidationError

from .course_schema import CourseFile, LatePolicySection, describe_errors


class CourseError(Exception):
    """A problem with the course directory or its settings, with the file it concerns."""


@dataclass(frozen=True)
class SandboxSettings:
    enabled: bool
    required: bool  # a worker that cannot sandbox refuses to grade (records an error, never a score)
    cell_seconds: int  # course.yml's limits.cell_timeout_seconds, which stock nbgrader uses too
    notebook_seconds: int
    memory_bytes: int
    max_processes: int
    max_output_bytes_per_cell: int
    max_file_bytes: int
    scratch_tmpfs_bytes: int  # the kernel's /tmp
    work_folder_bytes: int  # the kernel's working folder, also its HOME
    warm_kernels: bool  # fork each kernel from a template that ran the setup cells (dvwcourse.kernel.warm_kernels)


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
    min_free_disk_bytes: int  # below this, grading stops recording
    due: datetime | None = None  # the assignment's due date, time-zone aware; None: nothing is late
    late_policy: LatePolicySection = LatePolicySection()
    zip_timestamp_format: str = "%Y-%m-%d-%H-%M-%S"  # strptime format of an LMS file name's timestamp
    canvas_assignment_id: str = ""
    roster_csv: Path | None = None  # students (id, first_name, last_name, email, lms_user_id)
    extensions_csv: Path | None = None  # per-student due dates (student, due)

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
    """The course whose course.yml is in `root` or the nearest folder above it (default: the working folder).

    course.yml is checked against its schema (course_schema): a missing required key, an unknown key or a
    value out of range raises CourseError naming the file and the key.
    """
    root = find_course_root(root)
    path = root / "course.yml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise CourseError(f"{path}: cannot be read as YAML ({type(error).__name__}: {error})") from error
    try:
        settings = CourseFile.model_validate(raw if raw is not None else {})
    except ValidationError as error:
        raise CourseError(describe_errors(path, error)) from None
    sandbox = settings.sandbox
    return Course(
        root=root,
        course_id=settings.course_id,
        assignment_id=settings.assignment.id,
        notebook=settings.assignment.notebook,
        title=settings.assignment.title,
        points=dict(settings.points),
        budget_env_var=settings.budget.env_var,
        full_budget=settings.budget.full,
        grading_budget=settings.budget.grading,
        benign_stderr_warnings=tuple(settings.benign_stderr_warnings),
        # The sandbox section's keys carry over by name; only the two time limits are named differently.
        sandbox=SandboxSettings(
            **sandbox.model_dump(exclude={"notebook_timeout_seconds"}),
            cell_seconds=settings.limits.cell_timeout_seconds,
            notebook_seconds=sandbox.notebook_timeout_seconds,
        ),
        show_hidden_test_source=settings.feedback.show_hidden_test_source,
        zip_filename_regexp=settings.zip_filename_regexp,
        gradebook_url=settings.gradebook_url,
        min_free_disk_bytes=settings.min_free_disk_bytes,
        due=settings.assignment.due,
        late_policy=settings.late_policy,
        zip_timestamp_format=settings.lms.zip_timestamp_format,
        canvas_assignment_id=settings.lms.canvas_assignment_id,
        roster_csv=root / settings.lms.roster if settings.lms.roster else None,
        extensions_csv=root / settings.lms.extensions if settings.lms.extensions else None,
    )
