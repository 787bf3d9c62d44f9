"""The kernel's scratch folder (its working folder and HOME) and its /tmp: a size-limited tmpfs each, per kernel.

The grader (root) mounts them on the host, so the kernel's IPC sockets and connection file in the
scratch folder stay reachable from this process; the sandbox (or dvwcourse.kernel.confine) shows them to the
kernel. A kernel that fills one gets "No space left on device"; the host's disk never sees its bytes.
Without root nothing can be mounted: the scratch folder is then a plain temporary folder with no size
bound (the launcher says so).
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

from .exchange import MAX_ANSWER_BYTES
from ..settings import SandboxSettings

PREFIX = "dvw-scratch-"
OWNER = re.compile(rf"{PREFIX}(\d+)-\w+")  # dvw-scratch-<grader's pid>-<random>
# A filesystem this close to full counts as filled: tmpfs rounds to pages and files have metadata.
FULL_MARGIN_BYTES = 1 << 20
# The exchange folder holds one request and one answer at a time (see dvwcourse.kernel.exchange).
EXCHANGE_BYTES = 2 * MAX_ANSWER_BYTES
# Files cost memory beyond their bytes: at most one per 4 KB of the bound (an empty-file flood stops there too).
BYTES_PER_FILE = 4096


def tmpfs_options(size_bytes: int, mode: str) -> str:
    return f"size={size_bytes},nr_inodes={max(1024, size_bytes // BYTES_PER_FILE)},mode={mode}"


@functools.cache
def can_mount() -> bool:
    """Whether this process may mount a tmpfs (root, with the right to mount). Checked once per process,
    which also clears what graders killed before they could clean up left behind."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    with tempfile.TemporaryDirectory(prefix="dvw-mount-probe-") as folder:
        try:
            _mount_tmpfs(Path(folder), 1 << 20, "0700")
        except OSError:
            return False
        _unmount(Path(folder))
    remove_leftovers(Path(tempfile.gettempdir()))
    return True


def remove_leftovers(base: Path) -> list[Path]:
    """Unmount and remove the scratch folders in `base` of graders no longer running (killed hard, as a
    dead Dask worker is); a folder's name carries its grader's process id."""
    removed = []
    for folder in sorted(base.glob(f"{PREFIX}*")):
        owner = OWNER.fullmatch(folder.name)
        if not owner or _running(int(owner[1])):
            continue
        for path in (private_tmp(folder), folder):
            if os.path.ismount(path):
                _unmount(path)
            shutil.rmtree(path, ignore_errors=True)
        removed.append(folder)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: running
    return True


def _mount_tmpfs(folder: Path, size_bytes: int, mode: str) -> None:
    run = subprocess.run(["mount", "-t", "tmpfs", "-o", f"nosuid,nodev,{tmpfs_options(size_bytes, mode)}", "dvw-scratch", str(folder)],
                         capture_output=True, text=True)
    if run.returncode:
        raise OSError(f"cannot mount a {size_bytes}-byte tmpfs on {folder}: {run.stderr.strip()}")


def _unmount(folder: Path) -> None:
    """Unmount, lazily when a straggling kernel process still holds it: the mount never outlives us. Graders
    starting together may clear the same leftover: one that finds it already unmounted is done."""
    if subprocess.run(["umount", str(folder)], capture_output=True).returncode and os.path.ismount(folder):
        subprocess.run(["umount", "--lazy", str(folder)], capture_output=True, check=True)


def exchange_folder(scratch: Path) -> Path:
    """Where the grader and the kernel's agent swap requests and answers (see dvwcourse.kernel.exchange)."""
    return scratch / "dvw-exchange"


def private_tmp(scratch: Path) -> Path:
    """Where the grader mounts a kernel's own /tmp: beside its scratch folder."""
    return scratch.with_name(scratch.name + ".tmp")


@contextmanager
def scratch_folder(settings: SandboxSettings, bounded: bool) -> Iterator[Path]:
    """A fresh, empty scratch folder; when `bounded`, a tmpfs of `work_folder_bytes`, with the kernel's /tmp
    (a tmpfs of `scratch_tmpfs_bytes`) at private_tmp() and the grader's exchange folder (a tmpfs of its
    own, so a notebook that fills its space cannot stop the grader reading its answers) inside it.
    Unmounted and gone afterwards, also after errors."""
    with ExitStack() as cleanup:
        folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
        cleanup.callback(shutil.rmtree, folder, ignore_errors=True)
        if bounded:
            tmp = private_tmp(folder)
            tmp.mkdir()
            cleanup.callback(tmp.rmdir)
            for path, size, mode in [(folder, settings.work_folder_bytes, "0777"), (tmp, settings.scratch_tmpfs_bytes, "1777"),
                                     (exchange_folder(folder), EXCHANGE_BYTES, "1777")]:
                path.mkdir(exist_ok=True)
                _mount_tmpfs(path, size, mode)
                cleanup.callback(_unmount, path)
        yield folder


def filled(folder: Path) -> bool:
    """Whether the filesystem holding `folder` is (nearly) full."""
    return shutil.disk_usage(folder).free < FULL_MARGIN_BYTES
