"""Run a notebook's cells in a grading kernel with nbclient, within time and output limits."""
from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from .out_of_space import out_of_space_notes
from .sandbox import KernelLauncher
from .scratch import scratch_folder
from .settings import SandboxSettings

CHECK_MIME = "application/vnd.dvwcourse.check+json"
# parent_handle=1: no parent polling, which in a pid namespace mistakes the sandbox's init for an
# orphaning; bwrap --die-with-parent ends the kernel with the grader instead.
KERNEL_ARGV = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", "--IPKernelApp.parent_handle=1"]


@dataclass
class CheckRecord:
    name: str
    site: Any
    value: Any


@dataclass
class RunResult:
    """What came out of running one notebook: check records per test cell and what went wrong."""

    records: dict[str, list[CheckRecord]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # cell id -> "Name: message"
    notes: list[str] = field(default_factory=list)
    unrun: list[str] = field(default_factory=list)  # cell ids never executed
    kernel_died: bool = False
    timings: dict[str, float] = field(default_factory=dict)  # kernel start, first cell (imports), all cells


class LaunchedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel command is given, not looked up in installed kernelspecs."""

    def __init__(self, argv: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._spec = KernelSpec(argv=argv, display_name="grading", language="python", interrupt_mode="message")

    @property
    def kernel_spec(self) -> KernelSpec:
        return self._spec

    def write_connection_file(self, **kwargs: Any) -> None:
        super().write_connection_file(**kwargs)
        os.chmod(self.connection_file, 0o644)  # the kernel runs as another, unprivileged user


class LimitedClient(NotebookClient):
    """nbclient that caps each cell's output and hands check records of test cells to a collector."""

    def __init__(self, nb: nbformat.NotebookNode, output_cap: int, **kwargs: Any) -> None:
        super().__init__(nb, **kwargs)
        self.output_cap = output_cap
        self.output_sizes: dict[int, int] = {}
        self.truncated: set[int] = set()
        self.collecting: list[CheckRecord] | None = None

    def output(self, outs, msg, display_id, cell_index):  # type: ignore[override]
        content = msg.get("content", {})
        data = content.get("data") or {}
        if self.collecting is not None and msg.get("msg_type") == "display_data" and CHECK_MIME in data:
            record = data[CHECK_MIME]
            if isinstance(record, dict) and isinstance(record.get("name"), str):
                self.collecting.append(CheckRecord(record["name"], record.get("site"), record.get("value")))
        size = len(str(content.get("text", ""))) + sum(len(str(v)) for v in data.values())
        self.output_sizes[cell_index] = self.output_sizes.get(cell_index, 0) + size
        if self.output_sizes[cell_index] > self.output_cap:
            self.truncated.add(cell_index)
            return None
        return super().output(outs, msg, display_id, cell_index)


def kernel_env(extra: dict[str, str], scratch: Path) -> dict[str, str]:
    """A small, explicit environment: nothing of the grader's leaks into the kernel."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(scratch),
        "TMPDIR": str(scratch),
        "USER": "student",  # a fixed name: the sandbox's uid has no passwd entry to look up
        "LOGNAME": "student",
        "MPLCONFIGDIR": str(scratch / ".matplotlib"),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
        **extra,
    }


def prepare_scratch(scratch: Path, files: list[Path]) -> None:
    """The kernel's working folder: copies of the student's own files, and matplotlib's font cache."""
    for path in files:
        shutil.copy2(path, scratch / path.name)
    # The font list, built once and copied in, saves every kernel a slow first import of matplotlib.
    cache = Path(tempfile.gettempdir()) / "dvwcourse-mpl-cache"
    if not (cache / "ready").exists():
        cache.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "MPLCONFIGDIR": str(cache)}
        subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env, check=False)
        (cache / "ready").touch()
    shutil.copytree(cache, scratch / ".matplotlib", ignore=shutil.ignore_patterns("ready"), dirs_exist_ok=True)
    # The kernel runs as an unprivileged user: let it write here.
    os.chmod(scratch, 0o777)
    for path in scratch.rglob("*"):
        os.chmod(path, 0o777 if path.is_dir() else 0o666)


async def _run(nb: nbformat.NotebookNode, kernel_code: dict[str, str], launcher: KernelLauncher, env: dict[str, str], scratch: Path) -> RunResult:
    settings = launcher.settings
    result = RunResult()
    km = LaunchedKernelManager(
        launcher.command(KERNEL_ARGV, scratch),
        transport="ipc", ip=str(scratch / "kernel"), connection_file=str(scratch / "kernel.json"),
    )
    client = LimitedClient(
        nb, settings.max_output_bytes_per_cell, km=km, timeout=settings.cell_seconds, allow_errors=True,
        interrupt_on_timeout=True, startup_timeout=60, shutdown_kernel="immediate", record_timing=False,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": f"cell ran longer than {settings.cell_seconds} s", "traceback": []},
        raise_on_iopub_timeout=False, iopub_timeout=5, kernel_name="grading",
    )
    deadline = time.monotonic() + settings.notebook_seconds
    try:
        await _run_cells(client, nb, kernel_code, result, deadline, scratch, settings, kernel_env(env, scratch))
    finally:
        atexit.unregister(client._cleanup_kernel)  # the kernel is already shut down: nothing left for exit
    if deadline - time.monotonic() <= 1 and result.unrun and not result.kernel_died:
        result.notes.append(f"The notebook ran out of its {settings.notebook_seconds} s; {len(result.unrun)} cells were not run.")
    return result


async def _run_cells(
    client: LimitedClient, nb: nbformat.NotebookNode, kernel_code: dict[str, str], result: RunResult, deadline: float, scratch: Path,
    settings: SandboxSettings, env: dict[str, str],
) -> None:
    started = time.perf_counter()
    # env replaces (not extends) the grader's environment: nothing of it leaks into the kernel.
    # cleanup_kc: shut the kernel down on the way out, although the client did not create its manager.
    async with client.async_setup_kernel(cwd=str(scratch), env=env, cleanup_kc=True):
        result.timings["kernel_start"] = time.perf_counter() - started
        cells_started = time.perf_counter()
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            remaining = deadline - time.monotonic()
            if result.kernel_died or remaining <= 1:
                result.unrun.append(cell.id)
                continue
            client.timeout = int(min(settings.cell_seconds, remaining))
            shown_source = cell.source
            if cell.id in kernel_code:
                cell.source = kernel_code[cell.id]
                client.collecting = result.records.setdefault(cell.id, [])
            cell_started = time.perf_counter()
            try:
                await client.async_execute_cell(cell, index)
            except DeadKernelError:
                result.kernel_died = True
                result.errors[cell.id] = "DeadKernelError: the kernel died (it was killed or exited)"
                result.notes.append(f"The kernel died while running cell {cell.id}; later cells were not run.")
            finally:
                cell.source = shown_source
                client.collecting = None
                result.timings.setdefault("imports", time.perf_counter() - cell_started)  # the first code cell
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    result.errors[cell.id] = f"{output.ename}: {output.evalue}"
            if index in client.truncated:
                cell.outputs.append(nbformat.v4.new_output("stream", name="stdout", text=f"\n[output cut at {settings.max_output_bytes_per_cell} bytes]\n"))
                result.notes.append(f"Cell {cell.id} printed more than {settings.max_output_bytes_per_cell} bytes; the rest was dropped.")
        result.timings["cells"] = time.perf_counter() - cells_started


def run_notebook(
    nb: nbformat.NotebookNode, kernel_code: dict[str, str], launcher: KernelLauncher, env: dict[str, str], files: list[Path] = (),
) -> RunResult:
    """Execute `nb` in place (outputs filled in); test cells listed in `kernel_code` run that code instead."""
    with scratch_folder(launcher.settings, launcher.bounded) as scratch:
        prepare_scratch(scratch, list(files))
        result = asyncio.run(_run(nb, kernel_code, launcher, env, scratch))
        result.notes += out_of_space_notes(scratch, nb, launcher)
    return result
