"""Sample submissions: the release with chosen answer cells filled in."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

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


def write_submission(course: Course, student: str, nb: nbformat.NotebookNode) -> Path:
    path = course.submitted_notebook(student)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def write_sample_submissions(course: Course) -> list[str]:
    """The three samples of the main job, as submitted/<student>/<assignment>/<notebook>.ipynb."""
    release = nbformat.read(course.release_notebook, as_version=4)
    correct = sample_answers(course, "alternative_solutions")
    mistakes = sample_answers(course, "mistakes")
    samples = {
        "correct_student": correct,  # every answer right, written differently from the master
        "blank_student": {},  # the release, untouched
        "make_data_mistake": {**correct, "make_data": mistakes["make_data"]},  # one function wrong
    }
    for student, answers in samples.items():
        write_submission(course, student, fill_answers(release, answers, f"samples for {student}"))
    return list(samples)
