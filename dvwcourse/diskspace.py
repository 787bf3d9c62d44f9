"""The grader's guard for its own writes: enough free space on the course folder's file system."""
from __future__ import annotations

import shutil

from .batch_stop import LowDiskSpace
from .settings import Course, megabytes


def free_bytes(course: Course) -> int:
    return shutil.disk_usage(course.root).free


def ensure_free_space(course: Course) -> None:
    """Raise LowDiskSpace when the course folder's file system has less free space than course.yml allows."""
    free = free_bytes(course)
    if free < course.min_free_disk_bytes:
        raise LowDiskSpace(
            f"only {megabytes(free)} MB free on the file system of {course.root}, below min_free_disk_bytes "
            f"({megabytes(course.min_free_disk_bytes)} MB in course.yml)"
        )
