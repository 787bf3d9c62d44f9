"""nbgrader's Python API and gradebook, configured from this course's nbgrader_config.py."""
from __future__ import annotations

import os
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SAWarning
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from .batch_stop import GradebookUnavailable
from .settings import Course

T = TypeVar("T")
# Seconds between attempts when the gradebook's database does not answer (a server restarting, a locked
# SQLite file): about half a minute in all before the batch stops cleanly.
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0)


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


def in_gradebook(course: Course, operation: Callable[[Gradebook], T]) -> T:
    """`operation` on a freshly opened gradebook, tried again from the start while the database does not answer;
    GradebookUnavailable, naming the database and the cause, when it still does not (or refuses outright).
    `operation` must be safe to repeat: a failed attempt's writes are rolled back."""
    delays, attempt = RETRY_DELAYS, 0
    while True:
        try:
            with open_gradebook(course) as gradebook:
                return operation(gradebook)
        except Exception as error:
            cause = database_error(error)
            if cause is None:
                raise
            transient = isinstance(cause, (OperationalError, InterfaceError)) or cause.connection_invalidated
            if transient and attempt < len(delays):
                time.sleep(delays[attempt])
                attempt += 1
                continue
            waited = f"did not answer after {attempt + 1} attempts over {sum(delays[:attempt]):g} s" if transient else "refused the grader"
            raise GradebookUnavailable(f"the gradebook {shown_url(course)} {waited} ({type(cause).__name__}: "
                                       f"{first_line(cause.orig)})") from error


def database_error(error: BaseException) -> DBAPIError | None:
    """The database's own error behind `error`: nbgrader re-raises some as InvalidEntry, keeping it as the context."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, DBAPIError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def shown_url(course: Course) -> str:
    """The gradebook's URL as a summary may print it: without a password."""
    return make_url(gradebook_url(course)).render_as_string(hide_password=True)


def first_line(error: object) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__
