"""Sample submissions: the release with chosen answer cells filled in."""
from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nbformat
import yaml

from .atomic import write_bytes_atomic
from .cells import cell_by_grade_id, is_solution
from .settings import Course, CourseError, load_course

SAMPLES_DIR = "samples"
CELL_MARKER = re.compile(r"^# %% (\S+)\s*$", re.MULTILINE)


def read_sample_answers(path: Path) -> dict[str, str]:
    """Answer cells from a file of `# %% <grade_id>` sections, by grade_id."""
    parts = CELL_MARKER.split(path.read_text(encoding="utf-8"))
    # parts = [preamble, id1, code1, id2, code2, ...]
    return {grade_id: code.strip("\n") + "\n" for grade_id, code in zip(parts[1::2], parts[2::2])}


def fill_answers(nb: nbformat.NotebookNode, answers: dict[str, str], origin: str) -> nbformat.NotebookNode:
    """A copy of `nb` with the source of the answer cells named in `answers` replaced."""
    nb = nbformat.from_dict(nb)
    for grade_id, code in answers.items():
        cell = cell_by_grade_id(nb, grade_id)
        if cell is None or not is_solution(cell):
            raise CourseError(f"{origin}: {grade_id!r} is not an answer cell of the assignment")
        cell.source = code.rstrip("\n")
    return nb


def sample_answers(course: Course, name: str) -> dict[str, str]:
    return read_sample_answers(course.root / SAMPLES_DIR / f"{name}.py")


def sample_plan(course: Course) -> dict:
    """samples/samples.yml: which assignment the samples are for, and each sample student's answers, time and file."""
    path = course.root / SAMPLES_DIR / "samples.yml"
    try:
        plan = yaml.safe_load(path.read_text(encoding="utf-8"))
        str(plan["assignment"])
        for sample in plan["students"].values():  # read here, so that a slip names this file, not a traceback
            float(sample["hours_from_due"]), list(sample["answers"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as error:
        raise CourseError(f"{path}: not a samples plan (assignment, then students with answers and hours_from_due): {error}") from None
    return plan


def sample_notebooks(course: Course) -> dict[str, nbformat.NotebookNode]:
    """The samples of the main job, by student id (samples/samples.yml says what each holds)."""
    release = nbformat.read(course.release_notebook, as_version=4)
    files: dict[str, dict[str, str]] = {}
    notebooks = {}
    for student, sample in sample_plan(course)["students"].items():
        answers: dict[str, str] = {}
        for part in sample["answers"]:
            name, _, grade_id = part.partition("/")
            files.setdefault(name, sample_answers(course, name))
            answers |= {grade_id: files[name][grade_id]} if grade_id else files[name]
        notebooks[student] = fill_answers(release, answers, f"samples for {student}")
    return notebooks


def samples_course(course: Course) -> Course:
    """The course seen through the assignment the samples are for."""
    return load_course(course.root, sample_plan(course)["assignment"])


def write_sample_download(course: Course, path: Path) -> Path:
    """The samples as an LMS download zip (file names as zip_filename_regexp and lms.zip_timestamp_format in
    course.yml read them), handed in at their hours from the due date (or from now, without one), uploaded under
    their `uploaded_as` names (else the release's)."""
    due = course.due or datetime.now(timezone.utc)
    plan = sample_plan(course)["students"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for student, nb in sample_notebooks(course).items():
            stamp = (due + timedelta(hours=float(plan[student]["hours_from_due"]))).strftime(course.zip_timestamp_format)
            uploaded = plan[student].get("uploaded_as", "{notebook}.ipynb").format(notebook=course.notebook)
            bundle.writestr(f"{course.assignment_id}_{student}_attempt_{stamp}_{uploaded}", nbformat.writes(nb))
    return write_bytes_atomic(path, buffer.getvalue())
