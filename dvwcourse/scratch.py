"""The kernel's scratch folder (its working folder and HOME): a size-limited tmpfs per kernel.

The grader (root) mounts it on the host, so the kernel's IPC sockets and connection file in it stay
reachable from this process, and the same folder is bound into the sandbox. A kernel that fills it
gets "No space left on device"; the host's disk never sees its bytes. Without root nothing can be
mounted: the folder is then a plain temporary folder with no size bound (the launcher says so).
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

# A filesystem this close to full counts as filled: tmpfs rounds to pages and files have metadata.
FULL_MARGIN_BYTES = 1 << 20
# Files cost memory beyond their bytes: at most one per 4 KB of the bound (an empty-file flood stops there too).
BYTES_PER_FILE = 4096


def tmpfs_options(size_bytes: int, mode: str) -> str:
    return f"size={size_bytes},nr_inodes={max(1024, size_bytes // BYTES_PER_FILE)},mode={mode}"


@functools.cache
def can_mount() -> bool:
    """Whether this process may mount a tmpfs (root, with the right to mount)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    with tempfile.TemporaryDirectory(prefix="dvw-mount-probe-") as folder:
        try:
            _mount_tmpfs(Path(folder), 1 << 20)
        except OSError:
            return False
        _unmount(Path(folder))
    return True


def _mount_tmpfs(folder: Path, size_bytes: int) -> None:
    run = subprocess.run(["mount", "-t", "tmpfs", "-o", f"nosuid,nodev,{tmpfs_options(size_bytes, '0777')}", "dvw-scratch", str(folder)],
                         capture_output=True, text=True)
    if run.returncode:
        raise OSError(f"cannot mount a {size_bytes}-byte tmpfs on {folder}: {run.stderr.strip()}")


def _unmount(folder: Path) -> None:
    """Unmount, lazily when a straggling kernel process still holds it: the mount never outlives us."""
    if subprocess.run(["umount", str(folder)], capture_output=True).returncode:
        subprocess.run(["umount", "--lazy", str(folder)], capture_output=True, check=True)


@contextmanager
def scratch_folder(size_bytes: int, bounded: bool) -> Iterator[Path]:
    """A fresh, empty scratch folder, a `size_bytes` tmpfs when `bounded`; gone (unmounted) afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="dvw-scratch-"))
    try:
        if bounded:
            _mount_tmpfs(folder, size_bytes)
            try:
                yield folder
            finally:
                _unmount(folder)
        else:
            yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def filled(folder: Path) -> bool:
    """Whether the filesystem holding `folder` is (nearly) full."""
    return shutil.disk_usage(folder).free < FULL_MARGIN_BYTES
