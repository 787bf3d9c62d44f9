"""Sandbox uids, one per running kernel and host-wide, so no two kernels share a process limit.

The process limit of a sandbox (RLIMIT_NPROC) counts every process of its uid on the host: two
kernels under one uid would share it, and one student's fork bomb would starve the other's kernel.
So each kernel runs under a uid leased from a fixed range. A lease is an flock on that uid's file in
a host-wide folder, held while the kernel runs; local worker threads, Dask worker processes and
separate `dvwcourse` commands on one host all lease there. The kernel drops a lock when its holder
exits, even by SIGKILL, so a dead grader's leases free themselves; a uid that still has processes
(a kernel not yet gone) is passed over until they are.
"""
from __future__ import annotations

import fcntl
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

# Far above login users and systemd's dynamic users (61184-65519); no passwd entry is needed.
FIRST_UID = 3_000_000
UID_COUNT = 1000
FOLDER_ENV = "DVWCOURSE_UID_LEASES"  # e.g. a hostPath mount shared by every pod of a Kubernetes node


class NoFreeUid(RuntimeError):
    """Every uid of the range is leased or still has processes."""


def lease_folder() -> Path:
    """The host-wide folder of lease files: $DVWCOURSE_UID_LEASES, else /run (cleared at boot), else the temp folder."""
    configured = os.environ.get(FOLDER_ENV)
    if configured:
        return Path(configured)
    base = Path("/run") if os.access("/run", os.W_OK) else Path(tempfile.gettempdir())
    return base / "dvwcourse-uid-leases"


def processes_by_uid() -> dict[int, list[int]]:
    """Host pids of the processes alive on this host (as far as this pid namespace shows), by real uid."""
    found: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/status", encoding="ascii", errors="replace") as status:
                    uid = int(next(line for line in status if line.startswith("Uid:")).split()[1])
            except (OSError, StopIteration, ValueError):
                continue  # the process ended while we looked
            found.setdefault(uid, []).append(int(entry.name))
    return found


def uids_with_processes() -> set[int]:
    """Real uids of the processes alive on this host."""
    return set(processes_by_uid())


@contextmanager
def leased_uid(folder: Path | None = None, first: int = FIRST_UID, count: int = UID_COUNT) -> Iterator[int]:
    """A uid of [first, first + count) that no other kernel on this host has, for the `with` block."""
    folder = folder or lease_folder()
    folder.mkdir(parents=True, exist_ok=True)
    busy = uids_with_processes()
    for uid in range(first, first + count):
        if uid in busy:
            continue
        handle = open(folder / f"{uid}.lease", "a+", encoding="ascii")
        try:
            # flock belongs to this open file, not the process: two threads of one process exclude each other too.
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            handle.truncate(0)
            handle.write(f"{os.getpid()}\n")  # who holds it, for people looking; the lock is what counts
            handle.flush()
            yield uid
        finally:
            handle.close()  # releases the lease
        return
    raise NoFreeUid(f"all {count} sandbox uids from {first} are in use on this host (leases in {folder})")
