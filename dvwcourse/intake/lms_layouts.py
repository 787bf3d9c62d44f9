"""Whose is each entry of an LMS's bulk download, told from the names the LMSs write: nothing to configure.

course.yml's `zip_filename_regexp` (nbgrader's zip_collect plugin) is tried first, so a layout a course sets wins;
then the layouts below, as each LMS documents its "download all submissions":
- Canvas (flat files): `<sortable name>[_LATE]_<user id>_<attachment id>_<file name>`; the sortable name is the
  student's last and first name in lower case without punctuation. No time.
- Moodle: `<full name>_<participant id>_assignsubmission_<plugin>_` as a folder per participant, or the same prefix on
  each flat file name. The participant id is per assignment, so students are matched by their full name.
- Blackboard: `<assignment>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file name>`, and a receipt `….txt` per attempt.
- Brightspace (D2L): one folder per submission, `<id>-<id> - <full name> - <Mon D, YYYY H[:]MM AM>`, and an
  `index.html` listing them; or the same prefix and ` - <file name>` on flat files.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from nbgrader.plugins.zipcollect import FileNameCollectorPlugin

from ..deadlines import UnreadableTime, in_course_zone, parse_zip_timestamp
from ..settings import Course

_QUIET = logging.getLogger("dvwcourse.intake.zip_collect")  # nbgrader's plugin warns on every name it does not match
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False

CANVAS_FILE = re.compile(r"(?P<sortable>[^_\s]+)_(?P<late>(?i:late)_)?(?P<user>\d+)_(?P<attachment>\d+)_(?P<file>.+)")
MOODLE = re.compile(r"(?P<name>.+?)_(?P<participant>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<file>.*)")
BLACKBOARD_FILE = re.compile(r".+_(?P<user>[^_]+)_attempt_(?P<stamp>\d{4}(?:-\d{2}){5})(?:_(?P<file>.+)|(?P<receipt>\.txt))")
BLACKBOARD_TIME = "%Y-%m-%d-%H-%M-%S"
D2L_TIME = r"[A-Z][a-z]{2} \d{1,2}, \d{4} \d{1,2}:?\d{2} [AP]M"
BRIGHTSPACE = re.compile(rf"(?P<ids>\d+-\d+) - (?P<name>.+?) - (?P<when>{D2L_TIME})(?: - (?P<file>.+))?")
BRIGHTSPACE_TIMES = ("%b %d, %Y %I%M %p", "%b %d, %Y %I:%M %p")  # "Dec 4, 2026 517 PM" (no colon in a file name)
BRIGHTSPACE_INDEX = "index.html"


@dataclass(frozen=True)
class Owner:
    """Whose an entry of a download is, as far as its name tells."""

    layout: str  # the LMS whose layout the name follows
    student_id: str = ""  # a course id or LMS username in the name (Blackboard, course.yml's regexp)
    lms_user_id: str = ""  # Canvas's user id
    full_name: str = ""  # "Ada Lovelace" (Moodle, Brightspace) or Canvas's sortable "lovelaceada"
    timestamp: datetime | None = None  # UTC, naive
    time_problem: str = ""  # a time in the name that could not be read
    marked_late: bool = False  # the LMS says late but gives no time (Canvas)
    lms_file: bool = False  # the LMS's own file (a receipt, an index page), not the student's work
    file_name: str = ""  # the file's name as the student uploaded it (a flat file's, without the LMS's prefix)


def file_owner(course: Course, name: str) -> Owner | None:
    """Whose a file at the top of a download is; None when its name follows no layout."""
    return _course_layout(course, name) or next((owner for read in FILE_LAYOUTS if (owner := read(course, name))), None)


def folder_owner(course: Course, name: str) -> Owner | None:
    """Whose a folder at the top of a download is (Moodle's and Brightspace's folder per submission); None: no layout."""
    moodle = MOODLE.fullmatch(name)
    if moodle and not moodle["file"]:
        return Owner("Moodle", full_name=moodle["name"])
    brightspace = BRIGHTSPACE.fullmatch(name)
    if brightspace and not brightspace["file"]:
        return _brightspace(course, brightspace, name)
    return None


def _course_layout(course: Course, name: str) -> Owner | None:
    collector = FileNameCollectorPlugin(named_regexp=course.zip_filename_regexp, valid_ext=[_extension(name)], log=_QUIET)
    info = collector.collect(name)
    if not info or not info.get("student_id"):
        return None
    owner = Owner("course.yml's zip_filename_regexp", student_id=info["student_id"], file_name=_uploaded_name(course.zip_filename_regexp, name))
    if info.get("timestamp"):
        return _timed(owner, lambda: parse_zip_timestamp(course, info["timestamp"], name))
    return owner


def _extension(name: str) -> str:
    return "." + name.rsplit(".", 1)[1] if "." in name else ""


def _uploaded_name(regexp: str, name: str) -> str:
    """The uploaded file's name: from where nbgrader's `file_id` group starts (the group itself may stop early: `\\w+`
    stops at a dot or a space) to the end; the whole name without that group."""
    match = re.match(regexp, name)
    start = match.start("file_id") if match and "file_id" in match.re.groupindex and match.start("file_id") >= 0 else 0
    return name[start:]


def _canvas(course: Course, name: str) -> Owner | None:
    match = CANVAS_FILE.fullmatch(name)
    if not match:
        return None
    return Owner("Canvas", lms_user_id=match["user"], full_name=match["sortable"], marked_late=bool(match["late"]), file_name=match["file"])


def _moodle(course: Course, name: str) -> Owner | None:
    match = MOODLE.fullmatch(name)
    return Owner("Moodle", full_name=match["name"], file_name=match["file"]) if match and match["file"] else None


def _blackboard(course: Course, name: str) -> Owner | None:
    match = BLACKBOARD_FILE.fullmatch(name)
    if not match:
        return None
    owner = Owner("Blackboard", student_id=match["user"], lms_file=bool(match["receipt"]), file_name=match["file"] or "")
    return _timed(owner, lambda: in_course_zone(course, _strptime(match["stamp"], (BLACKBOARD_TIME,), name, "Blackboard")))


def _brightspace_file(course: Course, name: str) -> Owner | None:
    if name == BRIGHTSPACE_INDEX:
        return Owner("Brightspace", lms_file=True)
    match = BRIGHTSPACE.fullmatch(name)
    return _brightspace(course, match, name) if match and match["file"] else None


def _brightspace(course: Course, match: re.Match, name: str) -> Owner:
    owner = Owner("Brightspace", full_name=match["name"], file_name=match["file"] or "")
    return _timed(owner, lambda: in_course_zone(course, _strptime(match["when"], BRIGHTSPACE_TIMES, name, "Brightspace")))


FILE_LAYOUTS: list[Callable[[Course, str], Owner | None]] = [_blackboard, _brightspace_file, _moodle, _canvas]


def _timed(owner: Owner, read: Callable[[], datetime]) -> Owner:
    """The owner with its time, or with why the time could not be read (the submission is then graded without one)."""
    try:
        return Owner(**{**owner.__dict__, "timestamp": read()})
    except UnreadableTime as error:
        return Owner(**{**owner.__dict__, "time_problem": str(error)})


def _strptime(text: str, formats: tuple[str, ...], name: str, lms: str) -> datetime:
    for time_format in formats:
        try:
            return datetime.strptime(text, time_format)
        except ValueError:
            continue
    raise UnreadableTime(f"{name}: time {text!r} is not as {lms} writes it ({' or '.join(formats)})")
