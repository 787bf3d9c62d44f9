"""Warm grading kernels: per worker slot, a template process in the slot's sandbox forks one kernel per submission.

A slot leases a sandbox uid and mounts a scratch folder for its lifetime, and starts the template
(dvwcourse.kernel.fork_server) with the command of a cold kernel: same sandbox, limits and uid. The
template has run the master's setup cells; each submission's kernel is a fork of it, so it starts
with the globals and random state a cold kernel has after those cells, without paying for them.
The notebook's setup cells are then not run again: they get the outputs the template produced.

Between submissions the slot must be as new: every process of its uid but the template is gone
(the uid is this slot's alone, so that check is sound), and its scratch folder, /tmp and exchange
folder are empty. Anything left (a process, a mount, a file that cannot be removed, a template that
does not answer) tears the slot down: its processes killed, its mounts removed, its uid released;
the next submission starts a new one. A submission whose template died under it is graded again
on a cold kernel; where no template can start, grading runs cold.
"""
from __future__ import annotations

import asyncio
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import LocalProvisioner

from ..checkspec import library_indexes
from .execution import (KERNEL_ARGV, LaunchedKernelManager, RunResult, Testing, ipc_connection, kernel_process_env, prepare_scratch,
                        run_in_kernel)
from .out_of_space import out_of_space_notes
from .sandbox import KernelLauncher, python_paths
from .scratch import exchange_folder, private_tmp, scratch_folder
from .uid_lease import leased_uid, processes_by_uid

# The sandbox does not see this package: the template's module goes in as source, like the kernel's agent.
TEMPLATE_ARGV = [sys.executable, "-c", (Path(__file__).parent / "fork_server.py").read_text(encoding="utf-8")]
START_SECONDS = 120  # imports and setup cells, on a loaded machine
REPLY_SECONDS = 20
GONE_SECONDS = 5  # for the processes of a reaped submission to disappear
# Templates are started from this one long-lived thread: a sandbox dies with the thread that started it
# (bubblewrap's --die-with-parent and the parent-death signal follow the thread), and worker threads end.
_SPAWNER = ThreadPoolExecutor(1, thread_name_prefix="warm-kernel-spawner")


class WarmUnavailable(RuntimeError):
    """No template could be had, or it stopped answering: grade on a cold kernel."""


class ForkedProcess:
    """The Popen-like handle jupyter_client keeps of a kernel forked by a template (this process is root: it may signal it)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.stdin = self.stdout = self.stderr = None

    def poll(self) -> int | None:
        try:
            state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return -signal.SIGKILL
        return -signal.SIGKILL if state in ("Z", "X") else None  # a zombie waits for the template's reap

    def wait(self, timeout: float | None = None) -> int | None:
        deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
        while (code := self.poll()) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return code

    def send_signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkProvisioner(LocalProvisioner):
    """Launches the kernel by asking the slot's template to fork, instead of starting a process."""

    slot: "WarmSlot"

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        self.process = self.slot.fork(self.parent.connection_file, kwargs["env"], str(kwargs["cwd"]))
        self.pid = self.pgid = self.process.pid  # the kernel leads its own session
        self.cwd = kwargs["cwd"]
        return self.connection_info


class ForkedKernelManager(LaunchedKernelManager):
    def __init__(self, slot: "WarmSlot", **kwargs: Any) -> None:
        super().__init__(KERNEL_ARGV, **kwargs)
        self.provisioner = ForkProvisioner(kernel_id="warm", kernel_spec=self.kernel_spec, parent=self)
        self.provisioner.slot = slot


class WarmSlot:
    """One template in its own sandbox, uid and scratch folder, serving one submission at a time."""

    def __init__(self, launcher: KernelLauncher, setup: list[str], env: dict[str, str]) -> None:
        self.setup = setup
        self.why_closed = ""  # why reset() tore the slot down, if it did
        self._cleanup = ExitStack()
        try:
            self.launcher = replace(launcher, uid=self._cleanup.enter_context(leased_uid()))
            self.scratch = self._cleanup.enter_context(scratch_folder(launcher.settings, launcher.bounded))
            prepare_scratch(self.scratch, [])
            self._log = self._cleanup.enter_context(tempfile.TemporaryFile())
            self._process = _SPAWNER.submit(
                subprocess.Popen, self.launcher.command(TEMPLATE_ARGV, self.scratch), cwd=self.scratch,
                env=kernel_process_env(env, self.scratch), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            ).result()
            self._cleanup.callback(self._kill_all)  # before the mounts go and the uid is released
            self._buffer = b""
            self._send({"setup": setup})
            ready = self._receive(START_SECONDS)
            if "ready" not in ready:
                raise WarmUnavailable(f"the template could not run the setup cells: {ready.get('failed')}")
            self.outputs: list[list[dict[str, Any]]] = ready["ready"]
            self.template_pid = self._only_process()
        except BaseException:
            self.close()
            raise

    def _only_process(self) -> int:
        pids = processes_by_uid().get(self.launcher.uid, [])
        if len(pids) != 1:
            raise WarmUnavailable(f"expected the template alone under uid {self.launcher.uid}, found {len(pids)} processes")
        return pids[0]

    # -- the channel to the template -----------------------------------------------------------
    def _send(self, request: dict[str, Any]) -> None:
        try:
            self._process.stdin.write(json.dumps(request).encode() + b"\n")
            self._process.stdin.flush()
        except OSError as error:
            raise WarmUnavailable(f"the template is gone ({error})") from error

    def _receive(self, seconds: float) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        out = self._process.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([out], [], [], left)[0]:
                raise WarmUnavailable(f"the template did not answer within {seconds} s")
            chunk = os.read(out, 1 << 20)
            if not chunk:
                self._log.seek(0)
                raise WarmUnavailable(f"the template exited: {self._log.read()[-2000:].decode(errors='replace')}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    # -- one submission ------------------------------------------------------------------------
    def fork(self, connection_file: str, env: dict[str, str], cwd: str) -> ForkedProcess:
        """A kernel forked from the template, listening on `connection_file`."""
        self._send({"fork": {"connection_file": connection_file, "env": env, "cwd": cwd}})
        reply = self._receive(REPLY_SECONDS)
        if "forked" not in reply:
            raise WarmUnavailable(f"the template could not fork: {reply.get('failed')}")
        return ForkedProcess(self._host_pid(reply["forked"]))

    def _host_pid(self, pid_in_sandbox: int) -> int:
        """This host's pid of a process that its sandbox (a pid namespace of its own) calls `pid_in_sandbox`."""
        for pid in processes_by_uid().get(self.launcher.uid, []):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            nspids = next(line for line in status.splitlines() if line.startswith("NSpid:")).split()[1:]
            if int(nspids[-1]) == pid_in_sandbox and pid != self.template_pid:
                return pid
        raise WarmUnavailable("the forked kernel exited at once")

    def alive(self) -> bool:
        return self._process.poll() is None

    def reset(self) -> bool:
        """Make the slot as new after a submission: its processes gone, its folders empty. False when
        that cannot be shown (the slot is then torn down)."""
        try:
            self._send({"reap": {}})
            self._receive(REPLY_SECONDS)
            self._wait_for_template_alone()
            self._wipe()
        except (WarmUnavailable, OSError) as error:
            self.why_closed = f"{type(error).__name__}: {error}"
            self.close()
            return False
        return True

    def _wait_for_template_alone(self) -> None:
        deadline = time.monotonic() + GONE_SECONDS
        while processes_by_uid().get(self.launcher.uid, []) != [self.template_pid]:
            if time.monotonic() > deadline:
                left = [pid for pid in processes_by_uid().get(self.launcher.uid, []) if pid != self.template_pid]
                raise WarmUnavailable(f"processes of the last submission are still running ({len(left)})")
            time.sleep(0.02)

    def _wipe(self) -> None:
        """Empty every place a kernel can write; raise when something stays."""
        exchange, tmp = exchange_folder(self.scratch), private_tmp(self.scratch)
        keep = {exchange}
        if tmp.is_dir():  # else bubblewrap's own /tmp, gone with the kernel
            # The sandbox's /tmp is `tmp`: the mount points of what it binds below /tmp (the scratch folder, a
            # Python environment in a checkout under /tmp) are in there. Removing one here would unmount it in
            # the template's sandbox too, so they stay (emptied).
            _empty(tmp, keep | mount_points_below_tmp(tmp, [self.scratch, *map(Path, python_paths())]))
        _empty(self.scratch, keep)
        _empty(exchange, keep)
        prepare_scratch(self.scratch, [])

    def close(self) -> None:
        """Tear the slot down: every process of its uid killed, its folders unmounted, its uid released."""
        self._cleanup.close()

    def _kill_all(self) -> None:
        self._process.kill()  # bubblewrap: its pid namespace, and every process in it, goes too
        deadline = time.monotonic() + GONE_SECONDS * 4
        while (pids := processes_by_uid().get(self.launcher.uid, [])) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
        self._process.wait()


def mount_points_below_tmp(tmp: Path, bound: list[Path]) -> set[Path]:
    """The folders in `tmp` (a sandbox's /tmp, seen from outside) that the sandbox's bind mounts of `bound` need."""
    points = set()
    for path in bound:
        if path.is_relative_to("/tmp"):
            parts = path.relative_to("/tmp").parts
            points |= {tmp.joinpath(*parts[:depth]) for depth in range(1, len(parts) + 1)}
    return points


def _empty(folder: Path, keep: set[Path]) -> None:
    """Remove everything in `folder` but the folders in `keep` (emptied the same way); raise if anything stays."""
    for entry in os.scandir(folder):
        path = Path(entry.path)
        if path in keep and entry.is_dir(follow_symlinks=False):
            _empty(path, keep)
        elif entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path)
        else:
            path.unlink()
    left = [entry.name for entry in os.scandir(folder) if Path(entry.path) not in keep]
    if left:
        raise WarmUnavailable(f"could not remove {left[:3]} from {folder}")


class WarmPool:
    """Idle warm slots of one grader, shared by its worker threads; a slot serves one submission at a time."""

    def __init__(self, launcher: KernelLauncher, setup: list[str], env: dict[str, str]) -> None:
        self.launcher, self.setup, self.env = launcher, setup, env
        self.unavailable = ""  # why no template could start, once one failed: grading then stays cold
        self._idle: list[WarmSlot] = []
        self._lock = threading.Lock()

    def run(self, nb: nbformat.NotebookNode, testing: Testing, files: list[Path]) -> RunResult | None:
        """Run `nb` on a warm kernel; None when it must run cold (no template, or the template died under it)."""
        indexes = library_indexes(nb)
        if [nb.cells[i].source for i in indexes] != self.setup:
            return None  # not the master's setup cells: they must run in the kernel
        started = time.perf_counter()
        slot = self._checkout()
        if slot is None:
            return None
        template_start = time.perf_counter() - started  # 0 for a slot that was waiting
        try:
            prepare_scratch(slot.scratch, files)
            km = ForkedKernelManager(slot, **ipc_connection(slot.scratch))
            preloaded = dict(zip(indexes, slot.outputs))
            try:
                result = asyncio.run(run_in_kernel(nb, testing, self.launcher.settings, km, self.env, slot.scratch, preloaded))
            except WarmUnavailable:
                return None
            if result.kernel_died and not slot.alive():
                return None  # its kernel went with the template: not the submission's doing
            result.notes += out_of_space_notes(slot.scratch, nb, slot.launcher)
            result.timings["warm"] = 1.0
            result.timings["template_start"] = template_start
            return result
        finally:
            self._checkin(slot)

    def _checkout(self) -> WarmSlot | None:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            if self.unavailable:
                return None
        try:
            return WarmSlot(self.launcher, self.setup, self.env)
        except WarmUnavailable as error:
            self.unavailable = str(error)
            return None

    def _checkin(self, slot: WarmSlot) -> None:
        if slot.reset():
            with self._lock:
                self._idle.append(slot)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for slot in idle:
            slot.close()
