"""The course's settings as the tools use them, read from course.yml (checked against course_schema).

A `Course` is the course seen through one notebook of one assignment: what grading that notebook needs, with the
assignment's own points, due date, late policy, budget and extensions (course-wide where it sets none). Every tool
works on such a view; `assignment_views` gives every notebook of every assignment (or of one)."""
from __future__ import annotations

from dataclasses import dataclass, replace
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
    assignment_ids: tuple[str, ...] = ()  # every assignment of the course, in course.yml's order
    notebooks: tuple[str, ...] = ()  # every notebook of this assignment

    def __post_init__(self) -> None:  # a Course made by hand (tests) is a course of one notebook
        object.__setattr__(self, "assignment_ids", self.assignment_ids or (self.assignment_id,))
        object.__setattr__(self, "notebooks", self.notebooks or (self.notebook,))

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
    def tools_dir(self) -> Path:
        """The grading tools' own files, course-wide: the batch lock (one gradebook, one writer)."""
        return self.root / "autograded" / ".dvwcourse"

    @property
    def state_dir(self) -> Path:
        """This notebook's rerun state and master values: grading one notebook never invalidates another's."""
        return self.tools_dir / self.assignment_id / self.notebook

    @property
    def label(self) -> str:
        """How summaries name this notebook: the assignment, and the notebook when the assignment has several."""
        return self.assignment_id if len(self.notebooks) <= 1 else f"{self.assignment_id}/{self.notebook}"

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


def load_course(root: Path | None = None, assignment: str | None = None, notebook: str | None = None) -> Course:
    """The course whose course.yml is in `root` or the nearest folder above it (default: the working folder), seen
    through `notebook` of `assignment` (default: the first assignment, its first notebook).

    course.yml is checked against its schema (course_schema): a missing required key, an unknown key or a
    value out of range raises CourseError naming the file and the key; so does an assignment or notebook it lacks.
    """
    root, settings = read_course_file(root)
    entries = {entry.id: entry for entry in settings.assignment_list}
    if assignment is not None and assignment not in entries:
        raise CourseError(f"{root / 'course.yml'}: no assignment {assignment!r} (the course has {', '.join(entries)})")
    entry = entries[assignment] if assignment is not None else settings.assignment_list[0]
    names = entry.notebook_names
    if notebook is not None and notebook not in names:
        raise CourseError(f"{root / 'course.yml'}: assignment {entry.id} has no notebook {notebook!r} (it has {', '.join(names)})")
    late_policy, budget = settings.section_of(entry, "late_policy"), settings.section_of(entry, "budget")
    extensions = entry.extensions if entry.extensions is not None else settings.lms.extensions
    sandbox = settings.sandbox
    return Course(
        root=root,
        course_id=settings.course_id,
        assignment_id=entry.id,
        notebook=notebook or names[0],
        title=entry.title,
        points=dict(entry.points if entry.points is not None else settings.points),
        budget_env_var=budget.env_var,
        full_budget=budget.full,
        grading_budget=budget.grading,
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
        due=entry.due,
        late_policy=late_policy,
        zip_timestamp_format=settings.lms.zip_timestamp_format,
        canvas_assignment_id=entry.canvas_assignment_id if entry.canvas_assignment_id is not None else settings.lms.canvas_assignment_id,
        roster_csv=root / settings.lms.roster if settings.lms.roster else None,
        extensions_csv=root / extensions if extensions else None,
        assignment_ids=tuple(entries),
        notebooks=tuple(names),
    )


def read_course_file(root: Path | None) -> tuple[Path, CourseFile]:
    """The course folder and its course.yml, checked against the schema."""
    root = find_course_root(root)
    path = root / "course.yml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise CourseError(f"{path}: cannot be read as YAML ({type(error).__name__}: {error})") from error
    try:
        return root, CourseFile.model_validate(raw if raw is not None else {})
    except ValidationError as error:
        raise CourseError(describe_errors(path, error)) from None


def assignment_views(course: Course, assignment: str | None = None) -> list[Course]:
    """Every notebook of `assignment` (None: of every assignment of the course), each as its own view."""
    ids = [assignment] if assignment is not None else list(course.assignment_ids)
    views = []
    for assignment_id in ids:
        first = load_course(course.root, assignment_id)
        views += [replace(first, notebook=name) for name in first.notebooks]  # the notebook is all that differs
    return views
