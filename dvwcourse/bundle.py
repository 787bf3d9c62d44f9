"""What a worker without the course folder needs: the master bundle and each submission's bytes.

A Dask worker may run anywhere the environment is installed; it never reads the course folder. It
gets, once, the master bundle (course.yml, the source and release notebooks, and the master data the
coordinator's engine precomputed) and builds its engine from it in a worker-local temporary folder
(`unpack_course`); every task carries the submission's own bytes, unpacked into a folder of its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .code_version import grading_code_version
from .intake import Submission
from .settings import Course, CourseError


@dataclass(frozen=True)
class MasterBundle:
    fingerprint: str  # the coordinator's: one worker-side engine per course version
    code_version: str
    assignment_id: str  # the notebook of the course the bundle grades
    notebook: str
    files: dict[str, bytes]  # path relative to the course root -> content
    master_data: Any  # the engine's master data: opaque to everyone else


def make_bundle(course: Course, fingerprint: str, master_data: Any) -> MasterBundle:
    paths = [course.root / "course.yml", course.source_notebook, course.release_notebook]
    files = {path.relative_to(course.root).as_posix(): path.read_bytes() for path in paths}
    return MasterBundle(fingerprint, grading_code_version(), course.assignment_id, course.notebook, files, master_data)


def require_same_code(bundle: MasterBundle) -> None:
    """Refuse a bundle from a coordinator whose grading code differs: the two would judge differently."""
    if bundle.code_version != grading_code_version():
        raise CourseError(f"this worker has grading code {grading_code_version()}, the coordinator {bundle.code_version}: "
                          "install the same dvwcourse on both, so that they judge alike")


def unpack_course(bundle: MasterBundle, folder: Path) -> None:
    """Write the bundle's course files into `folder`."""
    for name, content in bundle.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


@dataclass(frozen=True)
class PackedSubmission:
    """A submission's files as bytes, named as submitted (the digest and the sandbox see the same names), and what
    the intake found out about them."""

    student: str
    notebook_name: str  # "" when no notebook of the assignment was handed in
    notebook: bytes
    files: dict[str, bytes] = field(default_factory=dict)
    about: dict[str, Any] = field(default_factory=dict)  # the Submission's found, others and problem

    @classmethod
    def pack(cls, submission: Submission) -> PackedSubmission:
        """Raises OSError when a file cannot be read."""
        files = {path.name: path.read_bytes() for path in submission.files}
        notebook = submission.notebook
        about = {"found": submission.found, "others": submission.others, "problem": submission.problem}
        return cls(submission.student, notebook.name if notebook else "", notebook.read_bytes() if notebook else b"", files, about)

    def unpack(self, folder: Path) -> Submission:
        notebook = folder / self.notebook_name if self.notebook_name else None
        if notebook:
            notebook.write_bytes(self.notebook)
        (folder / "files").mkdir()
        for name, content in self.files.items():
            (folder / "files" / name).write_bytes(content)
        return Submission(self.student, notebook, [folder / "files" / name for name in self.files], **self.about)
