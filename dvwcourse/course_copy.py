"""A throwaway copy of a course's inputs, for tests and benchmarks that grade without side effects."""
from __future__ import annotations

import shutil
from pathlib import Path

from .settings import Course, load_course

COURSE_INPUTS = ["course.yml", "nbgrader_config.py", "source", "release", "samples"]


def copy_course(course: Course, destination: Path) -> Course:
    """Copy what defines the course (no gradebook, no submissions, no graded work) into `destination`."""
    for name in COURSE_INPUTS:
        source = course.root / name
        if source.is_dir():
            shutil.copytree(source, destination / name)
        else:
            shutil.copy2(source, destination / name)
    return load_course(destination)
