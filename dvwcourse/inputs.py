"""Find submissions: nbgrader's submitted/ layout, a folder of <student>.ipynb, or an LMS zip."""
from __future__ import annotations

import hashlib
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from nbgrader.plugins.zipcollect import FileNameCollectorPlugin

from .deadlines import TIMESTAMP_FILE, UnreadableTime, parse_zip_timestamp, read_timestamp_file
from .settings import Course, CourseError

MAX_EXTRA_FILE_BYTES = 20_000_000  # other files of a submission copied into its sandbox
SUBMISSION_STAMPS = {TIMESTAMP_FILE, "submission_secret.txt"}  # nbgrader's files about a submission, not the student's work


@dataclass
class Submission:
    student: str
    notebook: Path
    files: list[Path] = field(default_factory=list)  # the student's other files, copied to the sandbox
    timestamp: datetime | None = None  # when it was submitted (UTC, naive as in nbgrader's gradebook); None: unknown
    time_problem: str = ""  # a time that could not be read (its own, or another attempt's), naming the file and the cause

    @property
    def time_flag(self) -> str:
        """For a person, when a time could not be read: what was done instead ("" when every time was read)."""
        if not self.time_problem:
            return ""
        if self.timestamp is None:
            return f"submission time unknown: {self.time_problem}; no late penalty applied — check it by hand"
        return (f"an attempt's time unknown: {self.time_problem}; graded the latest attempt with a time, "
                f"{self.notebook.name} — check it by hand")

    def digest(self) -> str:
        """Identifies the submission's content, to skip it when it comes back unchanged."""
        sha = hashlib.sha256()
        for path in [self.notebook, *sorted(self.files)]:
            sha.update(path.name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"<missing>"))
        return sha.hexdigest()


def find_submissions(course: Course, source: Path | None = None) -> list[Submission]:
    source = source or course.root / "submitted"
    if source.is_file() and source.suffix == ".zip":
        return from_zip(course, source)
    if source.is_file():
        return [Submission(source.stem, source)]
    if not source.is_dir():
        raise CourseError(f"{source}: no such file or folder of submissions")
    if any(p.is_dir() and (p / course.assignment_id).is_dir() for p in source.iterdir()):
        return from_submitted_layout(course, source)
    return [Submission(p.stem, p) for p in sorted(source.glob("*.ipynb"))]


def from_submitted_layout(course: Course, folder: Path) -> list[Submission]:
    submissions = []
    for student_dir in sorted(p for p in folder.iterdir() if (p / course.assignment_id).is_dir()):
        assignment_dir = student_dir / course.assignment_id
        notebook = assignment_dir / f"{course.notebook}.ipynb"
        files = [
            p for p in sorted(assignment_dir.iterdir())
            if p.is_file() and p != notebook and p.suffix != ".ipynb" and p.name not in SUBMISSION_STAMPS
            and p.stat().st_size <= MAX_EXTRA_FILE_BYTES
        ]
        timestamp, problem = time_or_problem(lambda: read_timestamp_file(assignment_dir / TIMESTAMP_FILE))
        submissions.append(Submission(student_dir.name, notebook, files, timestamp, problem))
    return submissions


def time_or_problem(read: Callable[[], datetime | None]) -> tuple[datetime | None, str]:
    """A submission's time, or None and why it could not be read: one unreadable time never stops the batch
    (the submission is graded as one without a time, and flagged)."""
    try:
        return read(), ""
    except UnreadableTime as error:
        return None, str(error)


def from_zip(course: Course, archive: Path) -> list[Submission]:
    """Unpack an LMS download and name each notebook's student as nbgrader's zip_collect would."""
    target = course.root / "downloaded" / course.assignment_id / archive.stem
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    try:
        with zipfile.ZipFile(archive) as bundle:
            for member in bundle.infolist():
                name = Path(member.filename).name
                if member.is_dir() or not name.endswith(".ipynb"):
                    continue
                (target / name).write_bytes(bundle.read(member))  # flattened: no path escapes target
    except zipfile.BadZipFile as error:
        raise CourseError(f"{archive}: not a zip file ({error})") from error
    collector = FileNameCollectorPlugin(named_regexp=course.zip_filename_regexp)
    attempts: dict[str, list[Submission]] = {}
    for path in sorted(target.glob("*.ipynb")):
        info = collector.collect(path.name)
        if not info:
            raise CourseError(f"{archive}: cannot find the student in file name {path.name} (zip_filename_regexp in course.yml)")
        stamp, problem = time_or_problem(
            lambda: parse_zip_timestamp(course, info["timestamp"], f"{archive}: {path.name}") if info.get("timestamp") else None)
        attempts.setdefault(info["student_id"], []).append(Submission(info["student_id"], path, timestamp=stamp, time_problem=problem))
    return [latest_attempt(attempts[student]) for student in sorted(attempts)]


def latest_attempt(attempts: list[Submission]) -> Submission:
    """The attempt that counts: the latest (one without a time counts as earliest; among equals, the last file name).
    When it has a time but another attempt's time could not be read, it carries that problem: a person should check."""
    latest = sorted(attempts, key=lambda attempt: attempt.timestamp or datetime.min)[-1]
    unread = [attempt.time_problem for attempt in attempts if attempt.time_problem and attempt is not latest]
    if unread and not latest.time_problem:
        latest.time_problem = "; ".join(unread)
    return latest
