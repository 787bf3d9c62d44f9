"""The folder where the grader and the kernel's agent swap requests and answers as files.

The kernel's user can write in the scratch folder, so it could swap this folder's path for a
symlink. The grader therefore opens the folder once and works through that descriptor, never
follows a symlink, refuses anything but a regular file, and bounds what it reads.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from ..trusted_tests import StudentCodeError

MAX_ANSWER_BYTES = 64_000_000  # one answer of the kernel: bounds what the grader decodes


class Exchange:
    def __init__(self, path: Path) -> None:
        """`path`: a folder of its own (a bounded mount when the grader can mount), or one to make."""
        self.path = path
        self.path.mkdir(exist_ok=True)
        os.chmod(self.path, 0o1777)  # the kernel's unprivileged user writes its answers here
        self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)

    def write_request(self, request_id: str, text: str) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        try:
            fd = os.open(f"{request_id}.in.json", flags, 0o644, dir_fd=self.fd)
        except OSError as error:
            raise StudentCodeError("the grader could not hand its inputs to the kernel") from error
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)

    def read_answer(self, request_id: str) -> bytes | None:
        """The agent's answer, or None when there is none."""
        try:
            fd = os.open(f"{request_id}.out.json", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StudentCodeError("the kernel's answer could not be read") from error
        # The type is checked on the descriptor before a file object is made of it: a directory opens, but
        # a file object refuses it with IsADirectoryError.
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_ANSWER_BYTES:
            os.close(fd)
            raise StudentCodeError("the kernel's answer was not a file of plain data of a sane size")
        with os.fdopen(fd, "rb") as handle:
            return handle.read(MAX_ANSWER_BYTES + 1)

    def finish(self, request_id: str) -> None:
        """Remove a request and its answer: the folder holds one exchange at a time."""
        for name in (f"{request_id}.in.json", f"{request_id}.out.json"):
            try:
                os.unlink(name, dir_fd=self.fd)
            except FileNotFoundError:
                pass
            except OSError as error:
                raise StudentCodeError("the grader could not clear its exchange folder") from error

    def close(self) -> None:
        os.close(self.fd)
