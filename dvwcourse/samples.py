"""Sample submissions: the release with chosen answer cells filled in."""
from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nbformat

from .atomic import write_bytes_atomic
from .cells import cell_by_grade_id, is_solution
from .settings import Course, CourseError

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


def sample_notebooks(course: Course) -> dict[str, nbformat.NotebookNode]:
    """The three samples of the main job, by student id."""
    release = nbformat.read(course.release_notebook, as_version=4)
    correct = sample_answers(course, "alternative_solutions")
    mistakes = sample_answers(course, "mistakes")
    samples = {
        "correct-student": correct,  # every answer right, written differently from the master
        "blank-student": {},  # the release, untouched
        "make-data-mistake": {**correct, "make_data": mistakes["make_data"]},  # one function wrong
    }
    return {student: fill_answers(release, answers, f"samples for {student}") for student, answers in samples.items()}


# When each sample was handed in, relative to the due date: late by a day and two hours, or on time.
SAMPLE_TIMES = {"correct-student": timedelta(hours=-2), "make-data-mistake": timedelta(hours=26), "blank-student": timedelta(days=-1)}
# The file names they uploaded: one saved from Colab as a copy, and downloaded twice (found by its content).
SAMPLE_UPLOADS = {"correct-student": "Copy of {notebook} (1).ipynb"}


def write_sample_download(course: Course, path: Path) -> Path:
    """The samples as an LMS download zip (file names as zip_filename_regexp and lms.zip_timestamp_format in
    course.yml read them), handed in at SAMPLE_TIMES around the due date (or now, without one), uploaded under
    the names in SAMPLE_UPLOADS (else the release's)."""
    due = course.due or datetime.now(timezone.utc)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for student, nb in sample_notebooks(course).items():
            stamp = (due + SAMPLE_TIMES[student]).strftime(course.zip_timestamp_format)
            uploaded = SAMPLE_UPLOADS.get(student, "{notebook}.ipynb").format(notebook=course.notebook)
            bundle.writestr(f"{course.assignment_id}_{student}_attempt_{stamp}_{uploaded}", nbformat.writes(nb))
    return write_bytes_atomic(path, buffer.getvalue())
