"""Bound a kernel's writes without bubblewrap (the limits-only fallback), then run it.

`python -m dvwcourse.kernel.confine --scratch DIR --tmp DIR [--keep DIR]... -- COMMAND...`, run as root: in a
private mount namespace every mount turns read-only except the scratch folder and the kernel's /tmp
(size-limited tmpfs mounts of the grader's, see dvwcourse.kernel.scratch), which all world-writable temporary
folders show; then COMMAND (which drops to an unprivileged uid) runs there. The kernel still sees the
file system and the network; it can write only to those two bounded places.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import re
import sys
from pathlib import Path

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
# statvfs flags that a read-only remount must keep (a remount replaces the per-mount flags).
KEPT_FLAGS = {os.ST_NOSUID: MS_NOSUID, os.ST_NODEV: MS_NODEV, os.ST_NOEXEC: MS_NOEXEC,
              os.ST_NOATIME: MS_NOATIME, os.ST_NODIRATIME: MS_NODIRATIME, os.ST_RELATIME: MS_RELATIME}
# Folders any user may write to on a Debian system; they all show the kernel's one bounded /tmp.
TEMP_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
# Filesystems that hold no data on a disk: a read-only remount may be refused there, harmlessly.
PSEUDO_FILESYSTEMS = {"proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "binfmt_misc", "debugfs", "tracefs",
                      "securityfs", "pstore", "bpf", "configfs", "fusectl", "hugetlbfs", "autofs", "efivarfs", "nsfs"}

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def _c_string(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    result = _libc.mount(_c_string(source), _c_string(target), _c_string(fstype), ctypes.c_ulong(flags), _c_string(data))
    _check(result, f"mount {target}")


def mounts() -> list[tuple[str, str]]:
    """(mount point, filesystem type) of every mount this process sees."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        after = fields.index("-")
        point = re.sub(r"\\([0-7]{3})", lambda octal: chr(int(octal[1], 8)), fields[4])  # mountinfo writes a space as \040
        found.append((point, fields[after + 1]))
    return found


def make_read_only(point: str) -> None:
    flags = os.statvfs(point).f_flag
    kept = sum(ms for st, ms in KEPT_FLAGS.items() if flags & st)
    _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | kept)


def confine(scratch: Path, tmp: Path, keep: list[Path]) -> None:
    """Turn this process's view of the file system into: read-only, but for `scratch` and `tmp`, seen as /tmp.

    `scratch` and `keep` (the kernel's Python) stay visible even when they lie below a temporary folder.
    """
    _check(_libc.unshare(CLONE_NEWNS), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing done here reaches the host
    held = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in {scratch, tmp, *keep}}  # reachable after /tmp is covered
    for point, fstype in mounts():
        if Path(point) in (scratch, tmp) or Path(point).is_relative_to(scratch):  # the grader's exchange lies below
            continue
        try:
            make_read_only(point)
        except FileNotFoundError:
            pass  # below another mount: out of reach anyway
        except OSError:
            if fstype not in PSEUDO_FILESYSTEMS:
                raise
    for folder in TEMP_FOLDERS:
        if os.path.isdir(folder):
            _mount(f"/proc/self/fd/{held[tmp]}", folder, None, MS_BIND)
    for path in [scratch, *keep]:
        if not same_folder(path, held[path]):  # hidden by the new /tmp: bind it back where it was
            path.mkdir(mode=0o755, parents=True, exist_ok=True)
            _mount(f"/proc/self/fd/{held[path]}", str(path), None, MS_BIND | MS_REC)
            if path != scratch:
                make_read_only(str(path))
    for handle in held.values():
        os.close(handle)


def same_folder(path: Path, handle: int) -> bool:
    try:
        seen, held = os.stat(path), os.fstat(handle)
    except FileNotFoundError:
        return False
    return (seen.st_dev, seen.st_ino) == (held.st_dev, held.st_ino)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dvwcourse.kernel.confine", description=__doc__)
    parser.add_argument("--scratch", type=Path, required=True)
    parser.add_argument("--tmp", type=Path, required=True, help="the kernel's /tmp, a size-limited tmpfs")
    parser.add_argument("--keep", type=Path, action="append", default=[], help="a folder to keep visible (read-only)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    confine(args.scratch.resolve(), args.tmp.resolve(), [path.resolve() for path in args.keep])
    os.execvp(command[0], command)


if __name__ == "__main__":
    sys.exit(main())
