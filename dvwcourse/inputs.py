"""Find submissions: nbgrader's submitted/ layout, a folder of <student>.ipynb, or an LMS zip."""
from __future__ import annotations

import hashlib
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from nbgrader.plugins.zipcollect import FileNameCollectorPlugin

from .deadlines import TIMESTAMP_FILE, parse_zip_timestamp, read_timestamp_file
from .settings import Course, CourseError

MAX_EXTRA_FILE_BYTES = 20_000_000  # other files of a submission copied into its sandbox
SUBMISSION_STAMPS = {TIMESTAMP_FILE, "submission_secret.txt"}  # nbgrader's files about a submission, not the student's work


@dataclass
class Submission:
    student: str
    notebook: Path
    files: list[Path] = field(default_factory=list)  # the student's other files, copied to the sandbox
    timestamp: datetime | None = None  # when it was submitted (UTC, naive as in nbgrader's gradebook); None: unknown

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
        timestamp = read_timestamp_file(assignment_dir / TIMESTAMP_FILE)
        submissions.append(Submission(student_dir.name, notebook, files, timestamp))
    return submissions


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
    latest: dict[str, Submission] = {}
    for path in sorted(target.glob("*.ipynb")):
        info = collector.collect(path.name)
        if not info:
            raise CourseError(f"{archive}: cannot find the student in file name {path.name} (zip_filename_regexp in course.yml)")
        stamp = parse_zip_timestamp(course, info["timestamp"], f"{archive}: {path.name}") if info.get("timestamp") else None
        earlier = latest.get(info["student_id"])
        if earlier is None or (stamp or datetime.min) >= (earlier.timestamp or datetime.min):
            latest[info["student_id"]] = Submission(info["student_id"], path, timestamp=stamp)  # the latest attempt counts
    return [latest[student] for student in sorted(latest)]
