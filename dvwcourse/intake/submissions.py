"""Find every submission, however it was named, packaged or downloaded.

Sources: nbgrader's `submitted/<student>/<assignment>/` layout, a folder of `<student>.ipynb`, a single notebook, an LMS
download (a zip, or the folder it unpacks to: Canvas, Moodle, Blackboard, Brightspace or course.yml's
zip_filename_regexp; see lms_layouts). A student's hand-in is every file they handed in (zips among them unpacked,
folders searched); the notebook graded is found by its name, else by its content (notebook_finder). Nothing a
student hands in stops the batch: a hand-in without a notebook of this assignment is that student's recorded
outcome, and an entry nobody can be told from is a line in the summary (`Intake.notices`).
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

import nbformat

from ..deadlines import TIMESTAMP_FILE, UnreadableTime, read_timestamp_file
from ..roster import Student, find_on_roster, read_roster
from ..settings import Course, CourseError
from .archives import LITTER, ArchiveProblem, is_archive, unpack_archive, unpack_nested
from .lms_layouts import Owner, file_owner, folder_owner
from .notebook_finder import find_notebook

MAX_EXTRA_FILE_BYTES = 20_000_000  # other files of a submission copied into its sandbox
SUBMISSION_STAMPS = {TIMESTAMP_FILE, "submission_secret.txt"}  # nbgrader's files about a submission, not the student's work
MAX_DEPTH = 4  # folders searched below a hand-in's top (a notebook one or two folders down is found)
MAX_FILES = 2000  # files taken from one hand-in, at most
PLAIN_FOLDER = "a folder per student"  # a download's folder named by the student's id or name, not by an LMS
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # a student id that is also a safe folder name


@dataclass
class Submission:
    student: str
    notebook: Path | None  # None: no notebook of this assignment was handed in (`problem` says what was)
    files: list[Path] = field(default_factory=list)  # the student's other files, copied to the sandbox
    timestamp: datetime | None = None  # when it was submitted (UTC, naive as in nbgrader's gradebook); None: unknown
    time_problem: str = ""  # a time that could not be read (its own, or another attempt's), naming the file and the cause
    found: str = ""  # how the notebook was found, when not by its name where nbgrader puts it
    others: list[str] = field(default_factory=list)  # other notebooks handed in and not graded (for the TAs)
    problem: str = ""  # why nothing could be graded, for the student

    @property
    def time_flag(self) -> str:
        """For a person, when a time could not be read: what was done instead ("" when every time was read)."""
        if not self.time_problem:
            return ""
        if self.timestamp is None:
            return f"submission time unknown: {self.time_problem}; no late penalty applied — check it by hand"
        return (f"an attempt's time unknown: {self.time_problem}; graded the latest attempt with a time, "
                f"submitted {self.timestamp:%Y-%m-%d %H:%M:%S} UTC — check it by hand")

    @property
    def intake_flags(self) -> list[str]:
        """What the TAs should know about the files: which one was graded and why, which were not."""
        return [self.found] * bool(self.found) + [f"also handed in, not graded: {other}" for other in self.others]

    def digest(self) -> str:
        """Identifies the submission's content, to skip it when it comes back unchanged."""
        sha = hashlib.sha256(self.problem.encode())
        for path in [*([self.notebook] if self.notebook else []), *sorted(self.files)]:
            sha.update(path.name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"<missing>"))
        return sha.hexdigest()


@dataclass
class Intake:
    submissions: list[Submission]
    notices: list[str] = field(default_factory=list)  # what was handed in but cannot be told to be anyone's


def find_submissions(course: Course, source: Path | None = None) -> list[Submission]:
    return read_submissions(course, source).submissions


def read_submissions(course: Course, source: Path | None = None) -> Intake:
    source = source or course.root / "submitted"
    finder = NotebookChooser(course)
    scratch = course.root / "downloaded" / course.assignment_id / source.name
    if source.is_file() and is_archive(source):
        try:
            unpack_archive(source, scratch / "download")
        except ArchiveProblem as error:
            raise CourseError(str(error)) from None  # the whole download: nothing could be graded from it
        return from_download(course, source, scratch / "download", scratch / "attempts", finder)
    if source.is_file():
        return Intake([Submission(source.stem, source)])
    if not source.is_dir():
        raise CourseError(f"{source}: no such file or folder of submissions")
    if any(p.is_dir() and any((p / name).is_dir() for name in course.assignment_ids) for p in source.iterdir()):
        return from_submitted_layout(course, source, scratch, finder)
    return from_download(course, source, source, scratch / "attempts", finder)


class NotebookChooser:
    """Picks each hand-in's notebook against the release (read once)."""

    def __init__(self, course: Course) -> None:
        self.expected = f"{course.notebook}.ipynb"
        self.release = nbformat.read(course.release_notebook, as_version=4)

    def submission(self, student: str, folder: Path, files: list[Path], problems: list[str] | None = None) -> Submission:
        """The submission of `student`, whose hand-in is `files` under `folder`."""
        choice = find_notebook(files, folder, self.expected, self.release)
        problem = "; ".join([choice.problem, *(problems or [])]) if choice.problem else ""
        home = choice.notebook.parent if choice.notebook else folder
        extra = [p for p in files if p.parent == home and p != choice.notebook and p.suffix.lower() != ".ipynb"
                 and p.name not in SUBMISSION_STAMPS and _size(p) <= MAX_EXTRA_FILE_BYTES]
        return Submission(student, choice.notebook, sorted(extra), found=choice.how, others=choice.others, problem=problem)


def from_submitted_layout(course: Course, folder: Path, scratch: Path, finder: NotebookChooser) -> Intake:
    """nbgrader's `submitted/<student>/<assignment>/`. A student folder without the assignment's folder still counts
    when a notebook of this assignment is in it (handed in beside the folder, or in a folder named otherwise); the
    folders of the course's other assignments are theirs, never looked into."""
    submissions, notices = [], []
    others = [name for name in course.assignment_ids if name != course.assignment_id]
    for student_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and p.name not in LITTER):
        assignment_dir = student_dir / course.assignment_id
        hand_in = assignment_dir if assignment_dir.is_dir() else student_dir
        files, problems = files_under(hand_in), []
        if hand_in == student_dir:
            files = [path for path in files if path.relative_to(student_dir).parts[0] not in others]
        if any(is_archive(path) for path in files):  # unpacked in a copy: nbgrader's folders stay as collected
            hand_in = copy_and_unpack(files, hand_in, scratch / "submitted" / student_dir.name, problems)
            files = files_under(hand_in)
        submission = finder.submission(student_dir.name, hand_in, files, problems)
        if not assignment_dir.is_dir() and submission.notebook is None:
            notices.append(f"{student_dir}: not graded: it has no {course.assignment_id} folder, and no notebook of this "
                           "assignment is in it")
            continue
        submission.timestamp, submission.time_problem = time_or_problem(lambda: read_timestamp_file(hand_in / TIMESTAMP_FILE))
        submissions.append(submission)
    return Intake(submissions, notices)


def copy_and_unpack(files: list[Path], folder: Path, copy: Path, problems: list[str]) -> Path:
    """`files` (under `folder`) copied to `copy`, with every archive among them unpacked there."""
    shutil.rmtree(copy, ignore_errors=True)
    for path in files:
        _place(path, copy / path.relative_to(folder))
    unpack_nested(copy, problems)
    return copy


def files_under(folder: Path) -> list[Path]:
    """A hand-in's files, a few folders deep, without operating-system litter; symlinks are not followed."""
    found = []
    for root, folders, names in os.walk(folder):
        depth = len(Path(root).relative_to(folder).parts)
        folders[:] = sorted(f for f in folders if f not in LITTER and depth < MAX_DEPTH and not (Path(root) / f).is_symlink())
        found += [Path(root) / name for name in sorted(names) if name not in LITTER and not name.startswith("._")
                  and (Path(root) / name).is_file() and not (Path(root) / name).is_symlink()]
    return found[:MAX_FILES]


def time_or_problem(read: Callable[[], datetime | None]) -> tuple[datetime | None, str]:
    """A submission's time, or None and why it could not be read: one unreadable time never stops the batch
    (the submission is graded as one without a time, and flagged)."""
    try:
        return read(), ""
    except UnreadableTime as error:
        return None, str(error)


@dataclass
class HandIn:
    """One student's attempt in a download: its files, gathered in a folder of their own under their uploaded names."""

    student: str
    folder: Path
    timestamp: datetime | None
    time_problem: str
    problems: list[str] = field(default_factory=list)  # archives among the files that could not be unpacked
    entries: list[str] = field(default_factory=list)  # the download's entries it came from (for a notice)
    needs_notebook: bool = False  # a plain folder name, not on the roster: a hand-in only with a notebook of this assignment


def from_download(course: Course, origin: Path, download: Path, attempts: Path, finder: NotebookChooser) -> Intake:
    """Submissions from an LMS download `origin` unpacked in `download`, or a folder of `<student>.ipynb`: each entry's
    student is told from its name; an entry that names nobody is a notice. The latest attempt of each student counts."""
    shutil.rmtree(attempts, ignore_errors=True)
    roster = read_roster(course) or {}
    hand_ins: dict[tuple[str, datetime | None], HandIn] = {}
    submissions: dict[str, list[Submission]] = {}
    notices = []
    for entry in top_entries(download, lambda entry: owner_of(course, entry) is not None):
        owner = owner_of(course, entry)
        if owner is None and entry.is_file() and (student := named_student(entry.stem, roster)) and entry.suffix == ".ipynb":
            submissions.setdefault(student, []).append(Submission(student, entry))  # a folder of <student>.ipynb
            continue
        if owner is None and entry.is_dir() and (student := named_student(entry.name, roster)):
            owner = Owner(PLAIN_FOLDER, student_id=student)  # <student>/<any file>
        if owner is None:
            notices.append(f"{origin}: {entry.relative_to(download)}: not graded: whose {'folder' if entry.is_dir() else 'file'} "
                           "this is cannot be told from its name (it follows no LMS's download layout, nor zip_filename_regexp "
                           "in course.yml)")
            continue
        if owner.lms_file:
            continue
        student = find_on_roster(roster, owner.student_id, owner.lms_user_id, owner.full_name) or student_id_from(owner)
        time_problem = (f"{origin}: {owner.time_problem}" if owner.time_problem else
                        f"{origin}: {entry.name}: {owner.layout} marks it LATE, but its download gives no time" if owner.marked_late else "")
        key = (student, owner.timestamp)
        hand_in = hand_ins.setdefault(key, HandIn(student, attempts / f"{len(hand_ins) + 1}", owner.timestamp, time_problem))
        hand_in.entries.append(str(entry.relative_to(download)))
        hand_in.needs_notebook = owner.layout == PLAIN_FOLDER and student not in roster and bool(roster)
        gather(entry, owner.file_name or entry.name, hand_in)
    for hand_in in hand_ins.values():
        unpack_nested(hand_in.folder, hand_in.problems)  # zips (and tars) the student handed in: their files are their work
        submission = finder.submission(hand_in.student, hand_in.folder, files_under(hand_in.folder), hand_in.problems)
        if hand_in.needs_notebook and submission.notebook is None:
            notices.append(f"{origin}: {', '.join(hand_in.entries)}: not graded: a folder named like no student on the roster, "
                           "with no notebook of this assignment in it")
            continue
        submission.timestamp, submission.time_problem = hand_in.timestamp, hand_in.time_problem
        submissions.setdefault(hand_in.student, []).append(submission)
    return Intake([latest_attempt(submissions[student]) for student in sorted(submissions)], notices)


def owner_of(course: Course, entry: Path) -> Owner | None:
    return folder_owner(course, entry.name) if entry.is_dir() else file_owner(course, entry.name)


def named_student(name: str, roster: dict[str, Student]) -> str | None:
    """The student a plain name (`<student>.ipynb`, a folder `<student>/`) stands for: a roster id or full name, or
    any name that is safe as an id."""
    return find_on_roster(roster, name, full_name=name) or (name if SAFE_ID.fullmatch(name) else None)


def top_entries(download: Path, names_someone: Callable[[Path], bool]) -> list[Path]:
    """The download's entries, below a single folder that wraps them all (a download unzipped into a folder, then
    zipped): one that names no one itself but whose entries do."""
    entries = sorted(p for p in download.iterdir() if p.name not in LITTER and not p.name.startswith("._") and not p.is_symlink())
    if len(entries) == 1 and entries[0].is_dir() and not names_someone(entries[0]) and any(map(names_someone, entries[0].iterdir())):
        return top_entries(entries[0], names_someone)
    return entries


def gather(entry: Path, uploaded_name: str, hand_in: HandIn) -> None:
    """Copy an entry (a file, or a folder's files) into the hand-in's folder under its uploaded name."""
    hand_in.folder.mkdir(parents=True, exist_ok=True)
    if entry.is_dir():
        for path in files_under(entry):
            _place(path, hand_in.folder / path.relative_to(entry))
    else:
        _place(entry, hand_in.folder / _safe_name(uploaded_name))


def _place(path: Path, destination: Path) -> None:
    destination = _free_name(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, destination)


def _free_name(path: Path) -> Path:
    """`path`, or `name (2).ext` … when a file of that name is already there (two uploads of one name)."""
    number = 2
    candidate = path
    while candidate.exists():
        candidate = path.with_name(f"{path.stem} ({number}){path.suffix}")
        number += 1
    return candidate


def _safe_name(name: str) -> str:
    return name.replace("/", "_").replace("\\", "_").lstrip(".") or "file"


def student_id_from(owner: Owner) -> str:
    """The id of a student the roster does not know, from what the file's name says (a path-safe id)."""
    if owner.student_id:
        text = owner.student_id
    elif owner.lms_user_id:
        text = f"{owner.full_name}-{owner.lms_user_id}"
    else:
        text = owner.full_name.lower()
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()  # "Émilie" -> "Emilie"
    return re.sub(r"[^A-Za-z0-9_-]+", "-", ascii_text).strip("-_") or f"unnamed-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def latest_attempt(attempts: list[Submission]) -> Submission:
    """The attempt that counts: the latest (one without a time counts as earliest; among equals, the last file name).
    When it has a time but another attempt's time could not be read, it carries that problem: a person should check."""
    latest = sorted(attempts, key=lambda attempt: attempt.timestamp or datetime.min)[-1]
    unread = [attempt.time_problem for attempt in attempts if attempt.time_problem and attempt is not latest]
    if unread and not latest.time_problem:
        latest.time_problem = "; ".join(unread)
    return latest


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return MAX_EXTRA_FILE_BYTES + 1

