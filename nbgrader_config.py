"""nbgrader's configuration for this course, read from course.yml (the one place for settings)."""
from pathlib import Path

from dvwcourse.nbgrader_settings import configure_nbgrader
from dvwcourse.settings import load_course

configure_nbgrader(get_config(), load_course(Path(__file__).resolve().parent))  # noqa: F821 (nbgrader provides get_config)
