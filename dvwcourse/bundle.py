"""What a worker without the course folder needs: the master bundle and each submission's bytes.

A Dask worker may run anywhere the environment is installed; it never reads the course folder. It
gets, once, the master bundle (course.yml, the source and release notebooks, and the master data the
coordinator's Grader precomputed) and builds a Grader from it in a worker-local temporary folder;
every task carries the submission's own bytes, unpacked into a temporary folder of its own.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .code_version import grading_code_version
from .inputs import Submission
from .safegrade import Grader
from .settings import CourseError, load_course


@dataclass(frozen=True)
class MasterBundle:
    fingerprint: str  # the coordinator's: one worker-side Grader per course version
    code_version: str
    files: dict[str, bytes]  # path relative to the course root -> content
    master_data: Any  # Grader.master_data(): opaque to everyone but Grader


def make_bundle(grader: Grader) -> MasterBundle:
    course = grader.course
    paths = [course.root / "course.yml", course.source_notebook, course.release_notebook]
    files = {path.relative_to(course.root).as_posix(): path.read_bytes() for path in paths}
    return MasterBundle(grader.fingerprint, grading_code_version(), files, grader.master_data())


# Per worker process: the Grader of each course version, and the folder that holds its course files.
_GRADERS: dict[str, tuple[tempfile.TemporaryDirectory, Grader]] = {}


def grader_from_bundle(bundle: MasterBundle) -> Grader:
    """This process's Grader for the bundle's course version, built once in a temporary folder."""
    if bundle.code_version != grading_code_version():
        raise CourseError(f"this worker has grading code {grading_code_version()}, the coordinator {bundle.code_version}: "
                          "install the same dvwcourse on both, so that they judge alike")
    if bundle.fingerprint not in _GRADERS:
        folder = tempfile.TemporaryDirectory(prefix="dvw-course-")
        for name, content in bundle.files.items():
            path = Path(folder.name) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        grader = Grader(load_course(Path(folder.name)))
        grader.use_master_data(bundle.master_data)  # the coordinator's master values: identical judging everywhere
        _GRADERS[bundle.fingerprint] = (folder, grader)
    return _GRADERS[bundle.fingerprint][1]


@dataclass(frozen=True)
class PackedSubmission:
    """A submission's files as bytes, named as submitted (the digest and the sandbox see the same names)."""

    student: str
    notebook_name: str
    notebook: bytes
    files: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def pack(cls, submission: Submission) -> PackedSubmission:
        """Raises OSError when a file cannot be read."""
        files = {path.name: path.read_bytes() for path in submission.files}
        return cls(submission.student, submission.notebook.name, submission.notebook.read_bytes(), files)

    def unpack(self, folder: Path) -> Submission:
        (folder / self.notebook_name).write_bytes(self.notebook)
        (folder / "files").mkdir()
        for name, content in self.files.items():
            (folder / "files" / name).write_bytes(content)
        return Submission(self.student, folder / self.notebook_name, [folder / "files" / name for name in self.files])
