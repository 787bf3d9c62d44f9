"""Run a notebook in a grading kernel with nbclient, within time and output limits; test cells are
judged in this process against the values the kernel exports (trusted_tests)."""
from __future__ import annotations

import asyncio
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any, Iterator

import nbformat
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellControlSignal, DeadKernelError

from ..cells import grade_id, is_solution
from ..checkspec import TestCell
from .exchange import Exchange
from .kernel_messages import GuardedSession, KernelLeftProtocol, reading_kernel_output
from .out_of_space import out_of_space_notes
from ..records import CellVerdict
from .sandbox import KernelLauncher
from .scratch import exchange_folder, scratch_folder
from ..settings import SandboxSettings
from ..trusted_tests import CallClock, CallTimedOut, CellJudge, KernelBridge, KernelDied, KernelStopped, StudentCodeError

AGENT_SOURCE = (Path(__file__).parent / "kernel_agent.py").read_text(encoding="utf-8")

# parent_handle=1: no parent polling, which in a pid namespace mistakes the sandbox's init for an
# orphaning; bwrap --die-with-parent ends the kernel with the grader instead.
KERNEL_ARGV = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", "--IPKernelApp.parent_handle=1"]
# The agent's module runs in a namespace of its own: only `__dvw_agent__` lands among the student's names.
BOOT_AGENT = """def __dvw_boot__(source, folder):
    import types
    module = types.ModuleType("dvw_agent")
    exec(compile(source, "dvw_agent", "exec"), module.__dict__)
    module.start_agent(folder)
__dvw_boot__({source!r}, {folder!r})
del __dvw_boot__
__dvw_agent__._respond("boot", {{}})"""
# After a request is interrupted at its time limit (nbclient then waits up to iopub_timeout for it to go idle), the
# kernel has this much longer to answer again before it is killed. Killing one that was merely slow costs time, not
# points: the call had timed out either way, and the notebook is graded again with that call failing at once.
INTERRUPT_GRACE_SECONDS = 2
# The kernels started in this context (see counting_kernels). A context variable, because an evaluation that fails
# part-way returns no RunResult, and the summary still counts the kernels it started.
_KERNELS_STARTED: ContextVar[list[int] | None] = ContextVar("kernels_started", default=None)


class KernelBrokeProtocol(KernelDied):
    """A request of the grader's got an answer outside Jupyter's format: the grader killed the kernel."""


def left_protocol(cell: str) -> str:
    """Why the cells after `cell` score 0 when the kernel stopped speaking Jupyter's protocol there."""
    return f"the notebook's kernel stopped answering in Jupyter's format after cell {cell}"


@dataclass
class Testing:
    """How test cells are run: in the grader's process, by grade_id, against the kernel's values."""

    tests: dict[str, TestCell]
    library: list[str]  # the master's library cells, run in the grader too
    grading_seed: int
    env: dict[str, str]  # for the library in the grader (the grading budget)
    call_limits: dict[str, float] = field(default_factory=dict)  # seconds per request, by CallClock name (else the cell limit)
    stuck_calls: dict[str, float] = field(default_factory=dict)  # requests that did not finish on a killed kernel: fail at once


@dataclass
class RunResult:
    """What came out of running one notebook: a verdict per test cell and what went wrong."""

    verdicts: dict[str, CellVerdict] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # grade_id or cell id -> "Name: message" (for TAs)
    notes: list[str] = field(default_factory=list)
    unrun: list[str] = field(default_factory=list)  # cells never executed
    kernel_died: bool = False
    stopped_in: str = ""  # the cell that ignored the interrupt at its time limit, whose kernel the grader then killed
    stuck_call: tuple[str, float, str] | None = None  # the request whose kernel the grader killed: its name, limit and why
    left_protocol_after: str = ""  # the cell after which the kernel stopped answering in Jupyter's format (then it was killed)
    call_seconds: dict[str, float] = field(default_factory=dict)  # the slowest request of each CallClock name
    timings: dict[str, float] = field(default_factory=dict)  # kernel start, first cell (imports), all cells, "cell <id>" each


class PromptClient(AsyncKernelClient):
    """A client that is ready once the kernel answers kernel_info on shell and IOPub. jupyter_client waits
    0.2 s for IOPub before asking again (its subscription often misses the first answer) and then idles
    0.2 s more draining IOPub, which nbclient needs not: it matches every message to its request."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:  # type: ignore[override]
        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        while True:
            self.kernel_info()
            try:
                reply = await self.shell_channel.get_msg(timeout=1)
                if reply["msg_type"] == "kernel_info_reply":
                    await self.iopub_channel.get_msg(timeout=0.05)  # IOPub is connected too (else ask again)
                    self._handle_kernel_info_reply(reply)
                    return
            except Empty:
                pass
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout} s")


class LaunchedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel command is given, not looked up in installed kernelspecs."""

    def __init__(self, argv: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client_factory = PromptClient
        self._spec = KernelSpec(argv=argv, display_name="grading", language="python", interrupt_mode="message")

    @property
    def kernel_spec(self) -> KernelSpec:
        return self._spec

    def _session_default(self) -> GuardedSession:
        return GuardedSession(parent=self)  # every message from the kernel is untrusted input

    def write_connection_file(self, **kwargs: Any) -> None:
        super().write_connection_file(**kwargs)
        os.chmod(self.connection_file, 0o644)  # the kernel runs as another, unprivileged user


class LimitedClient(NotebookClient):
    """nbclient that caps each cell's output, and runs the grader's requests to the kernel's agent."""

    def __init__(self, nb: nbformat.NotebookNode, output_cap: int, **kwargs: Any) -> None:
        super().__init__(nb, **kwargs)
        self.output_cap = output_cap
        self.output_sizes: dict[int, int] = {}
        self.truncated: set[int] = set()
        self.requesting = False  # a request of the grader's is running: its outputs are not the notebook's
        self.last_reply: dict[str, Any] = {}
        self.current_index = 0  # the cell whose requests are running (nbclient stores results at an index)
        self.on_cell_executed = self._keep_reply

    def _keep_reply(self, cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
        self.last_reply = execute_reply.get("content", {})

    async def answers_within(self, seconds: float) -> bool:
        """Whether the kernel answers a new, empty request within `seconds`: it runs requests in order, so it
        answers only once what it was running has stopped."""
        msg_id = self.kc.execute("", silent=True, store_history=False)
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                reply = await self.kc.shell_channel.get_msg(timeout=left)
            except Empty:
                return False
            if reply["parent_header"].get("msg_id") == msg_id:
                return True
        return False

    async def killed_for_ignoring_the_interrupt(self) -> bool:
        """After nbclient interrupted the kernel at a time limit: whether it failed to answer within
        INTERRUPT_GRACE_SECONDS (the student's code swallowed the interrupt), in which case it is killed, since
        nothing else stops it."""
        if await self.answers_within(INTERRUPT_GRACE_SECONDS):
            return False
        await self.stop_kernel()
        return True

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:  # type: ignore[override]
        # CellControlSignal: nbclient's own signal that the cell is done
        with reading_kernel_output(f"a {msg['msg_type']} message", let_through=(CellControlSignal,)):
            return super().process_message(msg, cell, cell_index)

    async def _check_raise_for_error(self, cell: Any, cell_index: int, exec_reply: dict[str, Any] | None) -> None:  # type: ignore[override]
        # Whatever message came on the shell channel for the cell is its reply, whatever its type: reading it reads
        # what the kernel sent. CellControlSignal: nbclient's own signal (an error it was told to raise).
        with reading_kernel_output("the reply to a cell", let_through=(CellControlSignal,)):
            await super()._check_raise_for_error(cell, cell_index, exec_reply)

    async def _async_poll_kernel_alive(self) -> None:
        """nbclient's poller of the kernel, which it leaves running when a cell ends in an exception (a kernel that left
        the protocol): this one stops once the client is closed, instead of failing on its missing channels."""
        while self.kc is not None:
            await asyncio.sleep(1)
            if self.kc is not None and not await self.kc.is_alive():
                self.task_poll_for_reply.cancel()
                return

    async def stop_kernel(self) -> None:
        """Kill the kernel: it is stuck, or no longer speaks the protocol; nothing else stops it."""
        await self.km.provisioner.kill()

    def output(self, outs: list[Any], msg: dict[str, Any], display_id: str | None, cell_index: int) -> Any:  # type: ignore[override]
        content = msg.get("content", {})
        data = content.get("data") or {}
        if self.requesting:
            return None
        size = len(str(content.get("text", ""))) + sum(len(str(v)) for v in data.values())
        self.output_sizes[cell_index] = self.output_sizes.get(cell_index, 0) + size
        if self.output_sizes[cell_index] > self.output_cap:
            self.truncated.add(cell_index)
            return None
        return super().output(outs, msg, display_id, cell_index)

    async def request(self, code: str, cell_index: int, seconds: int) -> None:
        """Run one request of the grader's in the kernel (the agent answers in the exchange folder). A kernel that
        answers outside Jupyter's format is killed (KernelBrokeProtocol)."""
        try:
            await self._request(code, cell_index, seconds)
        except KernelLeftProtocol as error:
            await self.stop_kernel()
            raise KernelBrokeProtocol(str(error)) from error

    async def _request(self, code: str, cell_index: int, seconds: int) -> None:
        shown = self.nb.cells[cell_index]  # nbclient stores the executed cell at cell_index: put it back after
        pseudo = nbformat.v4.new_code_cell(code)
        self.requesting, self.timeout, self.last_reply = True, seconds, {}
        try:
            await self.async_execute_cell(pseudo, cell_index, store_history=False)
        except DeadKernelError as error:
            raise KernelDied("the kernel died while the grader was reading your values") from error
        finally:
            self.requesting = False
            self.nb.cells[cell_index] = shown
        if self.last_reply.get("ename") == "CellTimeoutError":  # nbclient interrupted the kernel
            if await self.killed_for_ignoring_the_interrupt():
                raise KernelStopped(f"your code ran longer than {seconds:g} s for one check, and ignored the interrupt", seconds)
            raise CallTimedOut(seconds)
        if self.last_reply.get("status") == "error":  # the agent failed: its text is for TAs only
            raise StudentCodeError("the kernel could not answer the grader",
                                   f"{self.last_reply.get('ename')}: {str(self.last_reply.get('evalue'))[:300]}")


@contextmanager
def counting_kernels() -> Iterator[list[int]]:
    """Count the kernels started in this block, in this thread (asyncio.run's tasks included): `[count]`."""
    count = [0]
    token = _KERNELS_STARTED.set(count)
    try:
        yield count
    finally:
        _KERNELS_STARTED.reset(token)


def kernel_process_env(extra: dict[str, str], scratch: Path) -> dict[str, str]:
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


def cold_kernel_manager(launcher: KernelLauncher, scratch: Path) -> AsyncKernelManager:
    """A manager that starts a fresh kernel in the sandbox, talking over IPC sockets in `scratch`."""
    return LaunchedKernelManager(launcher.command(KERNEL_ARGV, scratch), **ipc_connection(scratch))


# A Unix socket's path holds at most 107 bytes; jupyter_client appends "-<channel number>" to `ip`.
MAX_SOCKET_PATH = 107


def ipc_connection(scratch: Path) -> dict[str, str]:
    """How a manager and its kernel connect: IPC sockets in `scratch`, which the sandbox binds. Refuses, with a
    clear reason, a scratch path too long for a Unix socket (zmq would fail half-way through the kernel's start)."""
    base = str(scratch / "kernel")
    longest = len(os.fsencode(base)) + 3  # "-<channel number>", up to two digits
    if longest > MAX_SOCKET_PATH:
        raise RuntimeError(f"{scratch}: the grader's temporary folder is too deep for the kernel's sockets ({longest} "
                           f"characters, Unix sockets allow {MAX_SOCKET_PATH}): set TMPDIR to a shorter folder")
    return {"transport": "ipc", "ip": base, "connection_file": str(scratch / "kernel.json")}


async def run_in_kernel(nb: nbformat.NotebookNode, testing: Testing | None, settings: SandboxSettings, km: AsyncKernelManager,
                        env: dict[str, str], scratch: Path, preloaded: dict[int, list[Any]] | None = None) -> RunResult:
    """Run `nb` in the kernel `km` starts. The code cells at the indexes of `preloaded` already ran there
    (a warm kernel's setup cells): they get those outputs and are not run again."""
    result = RunResult()
    client = LimitedClient(
        nb, settings.max_output_bytes_per_cell, km=km, timeout=settings.cell_seconds, allow_errors=True,
        interrupt_on_timeout=True, startup_timeout=60, shutdown_kernel="immediate", record_timing=False,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": f"cell ran longer than {settings.cell_seconds} s", "traceback": []},
        raise_on_iopub_timeout=False, iopub_timeout=5, kernel_name="grading",
    )
    deadline = time.monotonic() + settings.notebook_seconds
    try:
        await _run_cells(client, nb, testing, result, deadline, scratch, settings, kernel_process_env(env, scratch), preloaded or {})
    finally:
        atexit.unregister(client._cleanup_kernel)  # the kernel is already shut down: nothing left for exit
        await release_kernel(km, client.kc)
    if deadline - time.monotonic() <= 1 and result.unrun and not result.kernel_died:
        result.notes.append(f"The notebook ran out of its {settings.notebook_seconds} s; {len(result.unrun)} cells were not run.")
    return result


async def release_kernel(km: AsyncKernelManager, kc: Any) -> None:
    """What a kernel start or shutdown that failed half-way leaves behind (nbclient cleans up only after a
    complete start): the kernel's process, and the zmq contexts of its manager and client. A context left to the
    garbage collector in one cycle with its open sockets blocks its finalizer forever (pyzmq #1512): a grading
    process hung that way, in record(), after a kernel start failed."""
    if km.has_kernel and km.provisioner is not None:  # killed, not asked: the control socket may be what failed
        await km.provisioner.kill()
        await km.provisioner.wait()
    if kc is not None:
        kc.stop_channels()
        if not kc.context.closed:
            kc.context.destroy(linger=0)
    if km.trait_has_value("context") and not km.context.closed:
        km.context.destroy(linger=0)


async def _run_cells(
    client: LimitedClient, nb: nbformat.NotebookNode, testing: Testing | None, result: RunResult, deadline: float, scratch: Path,
    settings: SandboxSettings, env: dict[str, str], preloaded: dict[int, list[Any]],
) -> None:
    started = time.perf_counter()
    # env replaces (not extends) the grader's environment: nothing of it leaks into the kernel.
    # cleanup_kc: shut the kernel down on the way out, although the client did not create its manager.
    async with client.async_setup_kernel(cwd=str(scratch), env=env, cleanup_kc=True):
        result.timings["kernel_start"] = time.perf_counter() - started
        if (count := _KERNELS_STARTED.get()) is not None:
            count[0] += 1
        cells_started = time.perf_counter()
        exchange = Exchange(exchange_folder(scratch)) if testing else None
        try:
            await _run_all(client, nb, testing, exchange, result, deadline, settings, preloaded)
        finally:
            if exchange:
                exchange.close()
        result.timings["cells"] = time.perf_counter() - cells_started
    if testing:
        for grade_id_, test in testing.tests.items():
            if grade_id_ not in result.verdicts:
                why = "the kernel died before it" if result.kernel_died else "the notebook ran out of time before it"
                if result.stuck_call or result.stopped_in:
                    why = "the grader had to stop the kernel before it (see the note above)"
                if result.left_protocol_after:
                    why = left_protocol(result.left_protocol_after)
                result.verdicts[grade_id_] = CellVerdict(grade_id_, 0.0, test.points, error=f"not run: {why}")


async def _run_all(client: LimitedClient, nb: nbformat.NotebookNode, testing: Testing | None, exchange: Exchange | None,
                   result: RunResult, deadline: float, settings: SandboxSettings, preloaded: dict[int, list[Any]]) -> None:
    """Every code cell in order: test cells judged here, preloaded ones given their outputs, the others run in the kernel."""
    started = time.perf_counter()
    runner = await _start_testing(client, testing, exchange, deadline, settings) if testing else None
    result.timings["agent"] = time.perf_counter() - started
    stopped: list[str] = []  # answer cells stopped at their time limit since the last test cell
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        key = grade_id(cell) or cell.id
        if index in preloaded:
            cell.outputs = [nbformat.from_dict(output) for output in preloaded[index]]
            result.timings.setdefault("imports", 0.0)  # the warm kernel imported before it was forked
            continue
        if result.kernel_died or deadline - time.monotonic() <= 1:
            result.unrun.append(key)
            continue
        cell_started = time.perf_counter()
        if runner and key in testing.tests:
            await _run_test_cell(client, runner, testing.tests[key], cell, index, result, stopped)
            stopped = []
        else:
            await _run_kernel_cell(client, cell, index, key, result, deadline, settings, stopped)
        result.timings[f"cell {key}"] = time.perf_counter() - cell_started
        result.timings.setdefault("imports", result.timings[f"cell {key}"])  # the first code cell
    if runner:
        result.call_seconds = dict(runner.clock.seconds)


async def _start_testing(client: LimitedClient, testing: Testing, exchange: Exchange, deadline: float,
                         settings: SandboxSettings) -> CellJudge:
    """Start the agent in the kernel, before any cell, and the grader's side of the test cells."""
    loop = asyncio.get_running_loop()

    async def send(request_id: str, code: str, payload: str | None, seconds: float) -> dict[str, Any]:
        remaining = int(deadline - time.monotonic())
        if remaining <= 1:
            raise StudentCodeError("the notebook ran out of time")
        try:
            if payload is not None:
                exchange.write_request(request_id, payload)
            await client.request(code, client.current_index, min(seconds, settings.cell_seconds, remaining))
            return read_answer(exchange, request_id)
        finally:
            exchange.finish(request_id)

    await client.request(BOOT_AGENT.format(source=AGENT_SOURCE, folder=str(exchange.path)), 0, 60)
    started = read_answer(exchange, "boot")
    exchange.finish("boot")
    if started != {}:
        raise RuntimeError("the grading agent did not start in the kernel")
    bridge = KernelBridge(loop, send, settings.cell_seconds)
    clock = CallClock(testing.call_limits, testing.stuck_calls)
    return await asyncio.to_thread(CellJudge, testing.library, testing.tests, bridge, testing.grading_seed, testing.env, clock)


def read_answer(exchange: Exchange, request_id: str) -> dict[str, Any]:
    raw = exchange.read_answer(request_id)
    if raw is None:
        raise StudentCodeError("the kernel did not answer the grader (was __dvw_agent__ changed?)")
    try:
        answer = json.loads(raw)
    except (ValueError, RecursionError) as error:  # RecursionError: nested deeper than the parser goes
        raise StudentCodeError("the kernel's answer was not plain data") from error
    if not isinstance(answer, dict):
        raise StudentCodeError("the kernel's answer was not plain data")
    return answer


async def _run_kernel_cell(client: LimitedClient, cell: nbformat.NotebookNode, index: int, key: str, result: RunResult,
                           deadline: float, settings: SandboxSettings, stopped: list[str]) -> None:
    """Run one cell in the kernel; a kernel that answers outside Jupyter's format is killed and runs nothing more."""
    try:
        await _execute_kernel_cell(client, cell, index, key, result, deadline, settings, stopped)
    except KernelLeftProtocol as error:
        await client.stop_kernel()
        note_left_protocol(result, key, str(error))


def note_left_protocol(result: RunResult, key: str, why: str) -> None:
    """The kernel was killed for leaving the protocol in cell `key`: no later cell runs, and the notes say why."""
    result.kernel_died, result.left_protocol_after = True, key
    result.errors[key] = f"KernelLeftProtocol: {why}"
    result.notes.append(f"The grader stopped the kernel: {left_protocol(key)} ({why}); later cells were not run.")


async def _execute_kernel_cell(client: LimitedClient, cell: nbformat.NotebookNode, index: int, key: str, result: RunResult,
                               deadline: float, settings: SandboxSettings, stopped: list[str]) -> None:
    client.timeout = int(min(settings.cell_seconds, deadline - time.monotonic()))
    try:
        await client.async_execute_cell(cell, index)
    except DeadKernelError:
        result.kernel_died = True
        result.errors[key] = "DeadKernelError: the kernel died (it was killed or exited)"
        result.notes.append(f"The kernel died while running cell {key}; later cells were not run.")
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            result.errors[key] = f"{output.ename}: {output.evalue}"
    timed_out = client.last_reply.get("ename") == "CellTimeoutError"  # nbclient interrupted the kernel
    if timed_out and is_solution(cell):
        stopped.append(key)
        result.notes.append(
            f"Your cell {key} ran longer than {client.timeout} s at grading and was stopped. The grader trains with a"
            " small budget, so this usually means a hard-coded epoch count: scale it with the budget helper, as the exercise"
            " text shows."
        )
    # A cell that swallowed the interrupt: on a kernel that stays busy, every later cell would wait out its own limit
    # (and each test cell's requests would kill and rerun the notebook), and fail all the same.
    if timed_out and await client.killed_for_ignoring_the_interrupt():
        result.kernel_died, result.stopped_in = True, key
        result.notes.append(f"Cell {key} ignored the interrupt at its time limit, so the grader stopped the kernel;"
                            " later cells were not run.")
    if index in client.truncated:
        cell.outputs.append(nbformat.v4.new_output("stream", name="stdout", text=f"\n[output cut at {settings.max_output_bytes_per_cell} bytes]\n"))
        result.notes.append(f"Cell {key} printed more than {settings.max_output_bytes_per_cell} bytes; the rest was dropped.")


async def _run_test_cell(client: LimitedClient, runner: CellJudge, test: TestCell, cell: nbformat.NotebookNode, index: int,
                         result: RunResult, stopped: list[str]) -> None:
    """Judge one test cell in the grader's process; its outputs in the graded notebook say what happened."""
    client.current_index = index
    try:
        verdict = await asyncio.to_thread(runner.run, test)
    except KernelBrokeProtocol as error:
        note_left_protocol(result, test.grade_id, str(error))
        verdict = CellVerdict(test.grade_id, 0.0, test.points, error=left_protocol(test.grade_id))
    except KernelStopped as error:
        result.kernel_died, result.stuck_call = True, (error.call, error.seconds, str(error))
        result.notes.append(f"While the grader ran {test.grade_id}, {error}: the grader stopped the kernel.")
        verdict = CellVerdict(test.grade_id, 0.0, test.points, error=str(error))
    except KernelDied as error:
        result.kernel_died = True
        result.notes.append(f"The kernel died while the grader ran {test.grade_id}; later cells were not run.")
        verdict = CellVerdict(test.grade_id, 0.0, test.points, error=str(error))
    if verdict.error and stopped:
        verdict.error = f"{verdict.error}; your cell {', '.join(stopped)} was stopped at its time limit (see the note above)"
    if verdict.error:
        result.errors[test.grade_id] = f"{verdict.error} [{verdict.details}]" if verdict.details else verdict.error
    result.verdicts[test.grade_id] = verdict
    lines = [f"{'ok  ' if c.passed else 'FAIL'} {c.name}" + ("" if c.passed else f": {c.message}") for c in verdict.checks]
    lines += [f"stopped: {verdict.error}" + (f" [{verdict.details}]" if verdict.details else "")] if verdict.error else []
    lines += [f"for review: {flag}" for flag in verdict.flags]
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="\n".join(lines) + "\n")]


def run_notebook(
    nb: nbformat.NotebookNode, testing: Testing | None, launcher: KernelLauncher, env: dict[str, str], files: list[Path] = (),
) -> RunResult:
    """Execute `nb` in place (outputs filled in). With `testing`, its test cells are judged in this
    process against the kernel's values; without, every cell runs in the kernel."""
    with scratch_folder(launcher.settings, launcher.bounded) as scratch:
        prepare_scratch(scratch, list(files))
        km = cold_kernel_manager(launcher, scratch)
        result = asyncio.run(run_in_kernel(nb, testing or None, launcher.settings, km, env, scratch))
        result.notes += out_of_space_notes(scratch, nb, launcher)
    return result
