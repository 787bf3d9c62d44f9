"""The command that starts a grading kernel: inside bubblewrap with resource limits, or limits alone."""
from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .scratch import can_mount, private_tmp
from ..settings import SandboxSettings, megabytes

# Read-only system folders the kernel needs; everything else (the course above all) stays invisible.
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc")
SANDBOX_UID = 65534  # nobody: not root, so the process limit applies


@dataclass(frozen=True)
class KernelLauncher:
    """How grading kernels start: `sandboxed` tells whether bubblewrap confines them, `bounded` whether
    their writes are size-bounded (the scratch folder a tmpfs; needs root to mount)."""

    settings: SandboxSettings
    sandboxed: bool
    uid: int = SANDBOX_UID
    bounded: bool = field(default_factory=can_mount)

    @property
    def description(self) -> str:
        if self.sandboxed:
            return ("sandboxed (bubblewrap: no network, read-only system, own scratch folder and uid; memory, process, file-size "
                    f"and time limits; {self.disk_bounds})")
        limits = "memory, processes, file size, time; runs as an unprivileged user" if self.bounded else "memory, file size, time"
        return f"NOT sandboxed: resource limits only ({limits}; {self.disk_bounds}); the kernel can see the file system and the network"

    @property
    def disk_bounds(self) -> str:
        """What the kernel can write, and how much."""
        if not self.bounded:
            return "writes NOT size-bounded: the scratch folder is on the host's disk (bounding it needs root)"
        temps = "/tmp" if self.sandboxed else "/tmp (also seen as /var/tmp, /dev/shm, /run/lock)"
        return (f"writes bounded: working folder and HOME {megabytes(self.settings.work_folder_bytes)} MB, "
                f"{temps} {megabytes(self.settings.scratch_tmpfs_bytes)} MB, everything else read-only")

    def command(self, argv: list[str], scratch: Path) -> list[str]:
        """`argv` wrapped in the limits and, when sandboxed, in the sandbox seeing only `scratch`; when only
        bounded, in a mount namespace where `scratch` and one bounded /tmp are all it can write."""
        limits = [
            "prlimit", f"--as={self.settings.memory_bytes}", f"--fsize={self.settings.max_file_bytes}", "--core=0",
        ]
        # Without bubblewrap the kernel dies with the grader by its parent-death signal (bwrap --die-with-parent
        # does this for sandboxed ones).
        dies_with_grader = [] if self.sandboxed else ["--pdeathsig", "KILL"]
        if not (self.sandboxed or self.bounded):
            return [*limits, "--", "setpriv", *dies_with_grader, "--", *argv]
        # The process limit holds only for a kernel that runs as the unprivileged uid, not as root.
        limits.append(f"--nproc={self.settings.max_processes}")
        return [*limits, "--", *self.confinement(scratch), *drop_to_uid(self.uid), *dies_with_grader, *argv]

    def confinement(self, scratch: Path) -> list[str]:
        if self.sandboxed:
            return bwrap_prefix(scratch, self.bwrap_tmp(scratch))
        keep = [arg for path in python_paths() for arg in ("--keep", path)]
        return [sys.executable, "-m", "dvwcourse.kernel.confine", "--scratch", str(scratch), "--tmp", str(private_tmp(scratch)), *keep, "--"]

    def bwrap_tmp(self, scratch: Path) -> list[str]:
        """bwrap's arguments for the kernel's /tmp: the grader's bounded tmpfs, or bubblewrap's own of that size."""
        if self.bounded:
            return ["--bind", str(private_tmp(scratch)), "/tmp"]
        return ["--perms", "1777", "--size", str(self.settings.scratch_tmpfs_bytes), "--tmpfs", "/tmp"]


def python_paths() -> list[str]:
    """Folders the kernel's Python needs: its installation and this environment's packages."""
    paths = {sys.base_prefix, sys.prefix}
    return sorted(p for p in paths if not any(p != q and p.startswith(q + "/") for q in paths))


def bwrap_prefix(scratch: Path, tmp: list[str]) -> list[str]:
    """bwrap's arguments: system read-only, /tmp as `tmp` says, `scratch` writable and the working folder."""
    args = ["bwrap"]
    for path in SYSTEM_PATHS:
        if Path(path).exists():
            args += ["--ro-bind", path, path]
    # The private /tmp first: the environment or the scratch folder may live below /tmp.
    # Sticky and world-writable like a real /tmp: libraries (torch's compile cache) write there.
    args += ["--dev", "/dev", "--proc", "/proc", *tmp]
    for path in python_paths():
        args += parent_dirs(Path(path)) + ["--ro-bind", path, path]
    args += parent_dirs(scratch) + ["--bind", str(scratch), str(scratch), "--chdir", str(scratch)]
    args += [
        "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session", "--hostname", "sandbox",
        # Only to switch to the unprivileged uid below; setpriv drops every capability.
        "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
    ]
    return args


def parent_dirs(path: Path) -> list[str]:
    """bwrap creates missing parents as 0700; make them traversable for the unprivileged kernel."""
    args: list[str] = []
    for parent in reversed(path.parents):
        if str(parent) not in ("/", "/tmp") and not any(str(parent) == p or str(parent).startswith(p + "/") for p in SYSTEM_PATHS):
            args += ["--perms", "0755", "--dir", str(parent)]
    return args


def drop_to_uid(uid: int) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]


@functools.cache
def bubblewrap_works() -> bool:
    """Whether this machine can run the sandbox (bwrap installed and allowed to create namespaces)."""
    if not (shutil.which("bwrap") and shutil.which("setpriv") and shutil.which("prlimit")):
        return False
    probe = Path("/tmp")
    try:
        run = subprocess.run(
            [*bwrap_prefix(probe, ["--tmpfs", "/tmp"]), *drop_to_uid(SANDBOX_UID), sys.executable, "-c", "pass"],
            capture_output=True, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return run.returncode == 0


def make_launcher(settings: SandboxSettings, uid: int = SANDBOX_UID) -> KernelLauncher:
    """How this machine starts grading kernels: sandboxed when course.yml enables it and bubblewrap works here,
    with resource limits alone otherwise (the caller refuses that unless sandbox.required is false)."""
    return KernelLauncher(settings, sandboxed=settings.enabled and bubblewrap_works(), uid=uid)
