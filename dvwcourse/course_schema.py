"""course.yml's schema, declared once: every section and key, its type, default and allowed range.

Validated with pydantic. Unknown keys are refused (a typo in a limit must not be silently ignored),
missing optional keys take the defaults below, and `describe_errors` turns a failure into one line
per problem that names the file, the key and what is allowed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

Seconds = Annotated[int, Field(ge=1)]
Bytes = Annotated[int, Field(ge=1_000_000)]  # below a megabyte no kernel (or grader) gets anywhere


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AssignmentSection(Section):
    """One assignment: today's single `assignment:` (points at the top level) or an entry of `assignments:`."""

    id: str
    title: str
    notebook: str | None = None  # the notebook's file name without .ipynb (or `notebooks`, for several)
    notebooks: list[str] | None = None
    due: AwareDatetime | None = None  # ISO 8601 with a time zone, e.g. 2026-12-04T17:00:00+01:00; none: nothing is late
    # In `assignments:` only: its points, and where it differs from the course-wide settings (keys given override).
    points: dict[str, Annotated[float, Field(ge=0)]] | None = None
    late_policy: dict | None = None
    budget: dict | None = None
    extensions: str | None = None  # its own extensions CSV, relative to the course folder
    canvas_assignment_id: str | None = None

    @model_validator(mode="after")
    def one_way_to_name_notebooks(self) -> AssignmentSection:
        if (self.notebook is None) == (self.notebooks is None):
            raise ValueError("give either notebook (one) or notebooks (a list)")
        if self.notebooks is not None and (not self.notebooks or len(set(self.notebooks)) < len(self.notebooks)):
            raise ValueError("notebooks must list at least one notebook, each once")
        return self

    @property
    def notebook_names(self) -> list[str]:
        return [self.notebook] if self.notebook is not None else list(self.notebooks or [])


class BudgetSection(Section):
    env_var: str = "COURSE_BUDGET"  # the environment variable the master's budget helper reads
    full: float = Field(1.0, gt=0)  # students
    grading: float = Field(0.01, gt=0)  # autograding


class LimitsSection(Section):
    cell_timeout_seconds: Seconds = 60  # per cell, in both engines (stock nbgrader and safe grading)


class SandboxSection(Section):
    enabled: bool = True
    required: bool = True
    notebook_timeout_seconds: Seconds = 240
    memory_bytes: Annotated[int, Field(ge=500_000_000)] = 4_000_000_000  # torch alone maps about 1.5 GB
    max_processes: Annotated[int, Field(ge=4)] = 64
    max_output_bytes_per_cell: Annotated[int, Field(ge=1_000)] = 1_000_000
    max_file_bytes: Bytes = 100_000_000
    scratch_tmpfs_bytes: Bytes = 200_000_000
    work_folder_bytes: Bytes = 200_000_000
    warm_kernels: bool = True  # fork each kernel from a per-slot template that ran the setup cells

    @model_validator(mode="after")
    def unsandboxed_needs_consent(self) -> SandboxSection:
        if not self.enabled and self.required:
            raise ValueError("enabled is false but required is true: set required: false to grade unsandboxed")
        return self


class FeedbackSection(Section):
    show_hidden_test_source: bool = False


class LatePolicySection(Section):
    # none; zero: no points after the due date; per_hour / per_day: `deduct` per started hour or day late
    rule: Literal["none", "zero", "per_hour", "per_day"] = "none"
    deduct: Annotated[float, Field(ge=0)] = 0.0
    unit: Literal["fraction", "points"] = "fraction"  # fraction of the raw score, or points
    cap: Annotated[float, Field(ge=0)] | None = None  # the most deducted, in `unit`; none: up to the whole score
    grace_minutes: Annotated[int, Field(ge=0)] = 0  # up to this late counts as on time

    @model_validator(mode="after")
    def fraction_at_most_one(self) -> LatePolicySection:
        if self.unit == "fraction" and (self.deduct > 1 or (self.cap or 0) > 1):
            raise ValueError("deduct and cap are fractions of the score (0 to 1) when unit is fraction")
        return self


class LmsSection(Section):
    zip_timestamp_format: str = "%Y-%m-%d-%H-%M-%S"  # the `timestamp` group of zip_filename_regexp, as strptime reads it
    canvas_assignment_id: str = ""  # the number in the Canvas assignment's URL; empty: Canvas creates a new assignment
    roster: str = ""  # CSV (id, first_name, last_name, email, lms_user_id), relative to the course folder; empty: no roster
    extensions: str = ""  # CSV (student, due), relative to the course folder; empty: no extensions


class CourseFile(Section):
    course_id: str
    # One assignment (`assignment:` with `points:` here) or several (`assignments:`, each with its own points).
    assignment: AssignmentSection | None = None
    points: dict[str, Annotated[float, Field(ge=0)]] | None = None
    assignments: list[AssignmentSection] | None = None
    gradebook_url: str = ""
    budget: BudgetSection = BudgetSection()
    limits: LimitsSection = LimitsSection()
    benign_stderr_warnings: list[str] = ["UserWarning", "DeprecationWarning", "FutureWarning"]
    sandbox: SandboxSection = SandboxSection()
    min_free_disk_bytes: Annotated[int, Field(ge=0)] = 200_000_000
    zip_filename_regexp: str = r".*_(?P<student_id>[A-Za-z0-9-]+)_attempt_(?P<timestamp>[0-9\-]+)_(?P<file_id>\w+)"
    feedback: FeedbackSection = FeedbackSection()
    late_policy: LatePolicySection = LatePolicySection()
    lms: LmsSection = LmsSection()

    @model_validator(mode="after")
    def one_way_to_list_assignments(self) -> CourseFile:
        if (self.assignment is None) == (self.assignments is None):
            raise ValueError("give either assignment (with points) or assignments (a list, each with its points)")
        if self.assignment is not None:
            if self.points is None:
                raise ValueError("points: missing (the points of every graded cell of the assignment)")
            overrides = [key for key in OVERRIDES if getattr(self.assignment, key) is not None]
            if overrides:
                raise ValueError(f"assignment: {', '.join(overrides)} belong to entries of `assignments:`; with one "
                                 "assignment, set them at the top level")
            return self
        if self.points is not None:
            raise ValueError("points: with `assignments:`, each assignment has its own points")
        ids = [entry.id for entry in self.assignments]
        if not ids or len(set(ids)) < len(ids):
            raise ValueError(f"assignments: ids must be there and different (got {ids})")
        for entry in self.assignments:
            if entry.points is None:
                raise ValueError(f"assignments: {entry.id}: points: missing (the points of every graded cell)")
            for key in OVERRIDDEN_SECTIONS:
                if getattr(entry, key) is not None:  # checked as the section it overrides: unknown keys and ranges alike
                    try:
                        self.section_of(entry, key)
                    except ValidationError as error:
                        problems = "; ".join(_one_line(problem) for problem in error.errors())
                        raise ValueError(f"assignments: {entry.id}: {key}: {problems}") from None
        return self

    def section_of(self, entry: AssignmentSection, key: str) -> BaseModel:
        """The `late_policy` or `budget` an assignment goes by: the course's, with the keys the entry gives replaced."""
        return OVERRIDDEN_SECTIONS[key].model_validate({**getattr(self, key).model_dump(), **(getattr(entry, key) or {})})

    @property
    def assignment_list(self) -> list[AssignmentSection]:
        return [self.assignment] if self.assignment is not None else list(self.assignments or [])


def _one_line(problem: dict) -> str:
    where = ".".join(map(str, problem["loc"]))
    message = problem["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


OVERRIDES = ("points", "late_policy", "budget", "extensions", "canvas_assignment_id")
OVERRIDDEN_SECTIONS: dict[str, type[BaseModel]] = {"late_policy": LatePolicySection, "budget": BudgetSection}


def describe_errors(path: Path, error: ValidationError) -> str:
    """One line per problem: the file, the key's dotted path, and what is wrong or allowed."""
    lines = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        if problem["type"] == "extra_forbidden":
            lines.append(f"{path}: {key}: unknown key (allowed here: {', '.join(_allowed_keys(problem['loc']))})")
        elif problem["type"] == "missing":
            lines.append(f"{path}: {key}: missing (a required setting)")
        else:
            message = problem["msg"].removeprefix("Value error, ").split(" or instance of ")[0]
            given = problem.get("input")
            lines.append(f"{path}: {key}: {message}" + ("" if isinstance(given, dict) else f" (got {given!r})"))
    return "\n".join(lines)


def _allowed_keys(location: tuple) -> list[str]:
    """The keys the section holding `location` accepts."""
    model: type[BaseModel] = CourseFile
    for part in location[:-1]:
        annotation = model.model_fields[str(part)].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)
