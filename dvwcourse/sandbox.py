"""The command that starts a grading kernel: inside bubblewrap with resource limits, or limits alone."""
from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .settings import SandboxSettings

# Read-only system folders the kernel needs; everything else (the course above all) stays invisible.
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc")
SANDBOX_UID = 65534  # nobody: not root, so the process limit applies


@dataclass(frozen=True)
class KernelLauncher:
    """How grading kernels start: `isolated` tells whether bubblewrap confines them."""

    settings: SandboxSettings
    isolated: bool
    uid: int = SANDBOX_UID

    @property
    def description(self) -> str:
        if self.isolated:
            return "sandboxed (bubblewrap: no network, read-only system, own scratch folder and uid; memory, process, file-size and time limits)"
        return "NOT sandboxed: resource limits only (memory, file size, time); the kernel can see the file system and the network"

    def command(self, argv: list[str], scratch: Path) -> list[str]:
        """`argv` wrapped in the limits and, when isolated, in the sandbox seeing only `scratch`."""
        limits = [
            "prlimit", f"--as={self.settings.memory_bytes}", f"--fsize={self.settings.max_file_bytes}", "--core=0",
        ]
        if not self.isolated:
            # The kernel dies with the grader (bwrap --die-with-parent does this for sandboxed ones).
            return [*limits, "--", "setpriv", "--pdeathsig", "KILL", "--", *argv]
        limits.append(f"--nproc={self.settings.max_processes}")
        return [*limits, "--", *bwrap_prefix(scratch, self.settings.scratch_tmpfs_bytes), *drop_to_uid(self.uid), *argv]


def python_paths() -> list[str]:
    """Folders the kernel's Python needs: its installation and this environment's packages."""
    paths = {sys.base_prefix, sys.prefix}
    return sorted(p for p in paths if not any(p != q and p.startswith(q + "/") for q in paths))


def bwrap_prefix(scratch: Path, tmpfs_bytes: int) -> list[str]:
    args = ["bwrap"]
    for path in SYSTEM_PATHS:
        if Path(path).exists():
            args += ["--ro-bind", path, path]
    # The private /tmp first: the environment or the scratch folder may live below /tmp.
    # Sticky and world-writable like a real /tmp: libraries (torch's compile cache) write there.
    args += ["--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--size", str(tmpfs_bytes), "--tmpfs", "/tmp"]
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
            [*bwrap_prefix(probe, 1 << 20), *drop_to_uid(SANDBOX_UID), sys.executable, "-c", "pass"],
            capture_output=True, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return run.returncode == 0


def make_launcher(settings: SandboxSettings, uid: int = SANDBOX_UID) -> KernelLauncher:
    return KernelLauncher(settings, isolated=settings.enabled and bubblewrap_works(), uid=uid)
