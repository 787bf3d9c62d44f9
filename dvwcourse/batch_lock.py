"""One batch at a time per course: a second grading command stops before it writes anything.

Two batches writing one gradebook, state and feedback at once could interleave their writes. The
lock is an flock on a file in the course's state folder, so the kernel drops it when its holder
exits, however it ends (a SIGKILLed batch leaves no stale lock behind).
"""
from __future__ import annotations

import fcntl
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .settings import CourseError

LOCK_NAME = "batch.lock"


class BatchRunning(CourseError):
    """Another batch holds this course's lock."""


@contextmanager
def batch_lock(state_dir: Path) -> Iterator[None]:
    """Hold the course's batch lock for the `with` block; raise BatchRunning at once if another process has it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / LOCK_NAME
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "a process that has not said who it is yet"
            raise BatchRunning(
                f"another batch is already grading this course ({holder}); nothing was done. "
                f"Wait for it to finish, then run again (lock: {path})"
            ) from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n")
        handle.flush()
        yield  # closing the file releases the lock
