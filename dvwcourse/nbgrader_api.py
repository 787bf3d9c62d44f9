"""nbgrader's Python API and gradebook, configured from this course's nbgrader_config.py."""
from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from sqlalchemy.exc import SAWarning
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from .settings import Course


# nbgrader's gradebook trips SQLAlchemy's autoflush warnings on every autograde; they are noise.
warnings.filterwarnings("ignore", category=SAWarning)


def course_config(course: Course) -> Config:
    """The configuration nbgrader's own commands would load in this course."""
    return PyFileConfigLoader("nbgrader_config.py", path=str(course.root)).load_config()


def ensure_tools_on_path() -> None:
    # On a fresh gradebook nbgrader runs the `alembic` executable of this environment.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def make_api(course: Course) -> NbGraderAPI:
    ensure_tools_on_path()
    api = NbGraderAPI(config=course_config(course))
    api.log.setLevel("WARNING")  # our commands report outcomes themselves
    return api


def gradebook_url(course: Course) -> str:
    return course.gradebook_url or f"sqlite:///{course.root / 'gradebook.db'}"


@contextmanager
def open_gradebook(course: Course) -> Iterator[Gradebook]:
    ensure_tools_on_path()
    gradebook = Gradebook(gradebook_url(course), course_id=course.course_id)
    try:
        yield gradebook
    finally:
        gradebook.close()
