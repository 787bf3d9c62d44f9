"""Run the master's test cells in the grader's process, on values the student's kernel exports.

A test cell's code, hidden checks included, never enters the student's kernel. It runs here, in a
namespace built from the master's library cells (trusted code). The names a test cell lists in
`require(...)` are read from the kernel as plain data (`kernel_agent`), with the kernel's random
state, which the test continues from; the student's functions become proxies that send the grader's
inputs, and the grader's random state, to the kernel and bring back the result, networks changed in
place and the random state after the call. Every comparison, ratio, fit and measurement is computed
here, by `check`, on decoded data.
"""
from __future__ import annotations

import ast
import asyncio
import builtins
import itertools
import json
import os
import sys
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Awaitable, Callable
from unittest.mock import patch

import numpy as np

from .kernel import kernel_agent
from .checkspec import TestCell
from .judge import message_for
from .records import CellVerdict, CheckVerdict

# torch's and NumPy's random generators are global to a process: one test cell computes at a time.
# The lock is released while a cell waits for its kernel, so parallel workers still overlap.
JUDGE_LOCK = threading.Lock()
BUILTIN_EXCEPTIONS = {name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)}


class StudentCodeError(Exception):
    """The student's kernel could not give what a check needs. Its text is the grader's own words."""


class KernelDied(StudentCodeError):
    pass


class CallTimedOut(StudentCodeError):
    """A request did not finish within its time limit; the kernel was interrupted and answers again."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"your code ran longer than {seconds:g} s for one check")
        self.seconds = seconds


class KernelStopped(KernelDied):
    """A request did not finish in time and the kernel ignored the interrupt: the grader killed it.
    `call` names the request (see CallClock.next_call), so a fresh kernel can be told to skip it."""

    def __init__(self, message: str, seconds: float, call: str = "") -> None:
        super().__init__(message)
        self.seconds, self.call = seconds, call


READING = "(values)"  # the CallClock name of reading the student's values (not a name a function can have)


class CallClock:
    """The time limit of each request to the kernel (a call of a student's function, or reading values), the time
    each took, and the requests known not to finish.

    Requests are named by test cell, function and order (`test_x/f/0`): a notebook graded again on a fresh kernel
    makes the same requests in the same order, so one that had to be killed can fail at once there."""

    def __init__(self, limits: dict[str, float] | None = None, stuck: dict[str, float] | None = None) -> None:
        self.limits = dict(limits or {})  # by function; a function without one gets the bridge's own limit
        self.stuck = dict(stuck or {})  # call -> the limit it had
        self.seconds: dict[str, float] = {}  # the slowest call of each function, measured here
        self.cell = ""
        self.counts: dict[str, int] = {}

    def start_cell(self, grade_id: str) -> None:
        self.cell, self.counts = grade_id, {}

    def next_call(self, name: str) -> str:
        index = self.counts.get(name, 0)
        self.counts[name] = index + 1
        return f"{self.cell}/{name}/{index}"

    def record(self, name: str, seconds: float) -> None:
        self.seconds[name] = max(self.seconds.get(name, 0.0), seconds)

    def ask(self, bridge: "KernelBridge", name: str, late: Callable[[float], str], method: str, *args: Any,
            payload: str | None = None) -> dict:
        """`bridge.ask(method, ...)` within `name`'s limit, timed. `late(seconds)` says, in the grader's words, that
        the request did not finish: the check then fails with it (KernelStopped when the kernel had to be killed)."""
        call = self.next_call(name)
        if call in self.stuck:  # it did not finish on an earlier kernel, which had to be killed
            raise StudentCodeError(late(self.stuck[call]))
        started = time.perf_counter()
        try:
            answer = bridge.ask(method, *args, payload=payload, seconds=self.limits.get(name))
        except KernelStopped as error:
            raise KernelStopped(f"{late(error.seconds)}, and the kernel ignored the interrupt", error.seconds, call) from error
        except CallTimedOut as error:
            raise StudentCodeError(late(error.seconds)) from error
        self.record(name, time.perf_counter() - started)
        return answer


class KernelBridge:
    """Requests from the test thread to the kernel, sent and answered on the event loop's thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, send: Callable[[str, str, str | None, float], Awaitable[dict]],
                 timeout: float) -> None:
        self.loop = loop
        self.send = send  # (request id, code, payload, seconds) -> the agent's answer
        self.timeout = timeout
        self.ids = itertools.count()

    def ask(self, method: str, *args: Any, payload: str | None = None, seconds: float | None = None) -> dict:
        """Call the agent's `method` with `args` (small literals) and `payload` (JSON, sent as a file), within
        `seconds` (default: the bridge's limit). Raises CallTimedOut, or KernelStopped when the kernel had to be killed."""
        request_id = f"r{next(self.ids)}"
        code = f"__dvw_agent__.{method}({', '.join(repr(a) for a in (request_id, *args))})"
        seconds = self.timeout if seconds is None else seconds
        future = asyncio.run_coroutine_threadsafe(self.send(request_id, code, payload, seconds), self.loop)
        JUDGE_LOCK.release()  # others may compute while this cell waits for its kernel
        try:
            return future.result(seconds + 60)  # room for an interrupt, a kill and the kernel's shutdown
        except FutureTimeout as error:
            raise StudentCodeError("the kernel did not answer the grader in time") from error
        finally:
            JUDGE_LOCK.acquire()


class StudentFunction:
    """Calls the student's function in the kernel, with the grader's inputs and random state."""

    def __init__(self, name: str, bridge: KernelBridge, clock: CallClock) -> None:
        self.name = name
        self.bridge = bridge
        self.clock = clock

    def __repr__(self) -> str:
        return f"<your function {self.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = {"rng": kernel_agent.rng_state(), "args": [kernel_agent.encode(a) for a in args],
                   "kwargs": {k: kernel_agent.encode(v) for k, v in kwargs.items()}}
        answer = self.clock.ask(self.bridge, self.name, self.did_not_return, "call", self.name, payload=json.dumps(request))
        if part(answer, "missing", list, []):
            raise StudentCodeError(f"`{self.name}` is not a function in your notebook")
        for mine, changed in zip(args, part(answer, "args", list, [])):
            if changed is not None:
                update_in_place(mine, decode_answer(changed, f"what your `{self.name}` did to its arguments"))
        restore_rng(part(answer, "rng", dict, None))
        if "error" in answer:
            error = part(answer, "error", list, [])
            # For TAs: the kernel's own words, strings only (str() of a forged, deeply nested value would not end).
            details = " ".join(text[:300] for text in error[:2] if isinstance(text, str))
            raise StudentCodeError(f"calling your `{self.name}` raised {exception_name(error)}", details)
        return decode_answer(answer.get("value"), self.name)

    def did_not_return(self, seconds: float) -> str:
        return f"your `{self.name}` did not return within {seconds:g} s on the grader's inputs"


def part(answer: dict, key: str, kind: type, default: Any) -> Any:
    """One part of the agent's answer, of the type the grader expects; anything else is refused."""
    value = answer.get(key, default)
    if not isinstance(value, kind):
        raise StudentCodeError("the kernel's answer to the grader was not plain data")
    return value


def restore_rng(state: Any) -> None:
    """Continue from the kernel's random state; a state that is not one is refused, and no generator moves."""
    try:
        kernel_agent.set_rng_state(state)
    except kernel_agent.NotPlainData as error:
        raise StudentCodeError("the kernel's random state was not plain data") from error


def exception_name(error: Any) -> str:
    """The name of a builtin exception type; any other name could carry a message, so it is not shown."""
    name = error[0] if isinstance(error, list) and error else ""
    return name if isinstance(name, str) and name in BUILTIN_EXCEPTIONS else "an exception"


def decode_answer(data: Any, what: str) -> Any:
    try:
        return kernel_agent.decode(data)
    except kernel_agent.NotPlainData as error:
        raise StudentCodeError(f"`{what}` could not be read as plain data", str(error)) from error


def update_in_place(mine: Any, changed: Any) -> None:
    """What the student's function did to an argument in place, done to the grader's copy."""
    import torch

    if isinstance(mine, torch.nn.Module) and isinstance(changed, torch.nn.Module):
        kernel_agent.copy_weights(mine, changed)
    elif isinstance(mine, torch.Tensor) and isinstance(changed, torch.Tensor) and mine.shape == changed.shape:
        with torch.no_grad():
            mine.copy_(changed)
    elif isinstance(mine, np.ndarray) and isinstance(changed, np.ndarray) and mine.shape == changed.shape:
        mine[...] = changed


class GraderNamespace(dict):
    """The namespace test cells run in: the master's library and the tests' own names, plus the
    student's names the current cell requires, read from the kernel (once per cell)."""

    def __init__(self, bridge: KernelBridge, clock: CallClock) -> None:
        super().__init__()
        self.bridge = bridge
        self.clock = clock
        self.required: set[str] = set()
        self.fetched: dict[str, Any] = {}
        self.rng: dict | None = None  # the kernel's random state when the names were read

    def start_cell(self, required: set[str]) -> None:
        """Read every name the cell requires, at once, and the kernel's random state with them."""
        self.required, self.fetched, self.rng = set(required), {}, None
        self.fetch(sorted(required))
        if self.rng is not None:
            restore_rng(self.rng)  # the test continues from the kernel's random state

    def __getitem__(self, name: str) -> Any:
        if name in self.required:
            if name not in self.fetched:
                missing = self.fetch([name])
                if missing:
                    raise StudentCodeError(f"`{name}` is not defined in your notebook")
            return self.fetched[name]
        return dict.__getitem__(self, name)

    def fetch(self, names: list[str]) -> list[str]:
        """Read `names` from the kernel; returns the missing ones."""
        wanted = [n for n in names if n not in self.fetched]
        if not wanted:
            return []
        answer = self.clock.ask(self.bridge, READING, lambda seconds: f"reading your {', '.join(wanted)} did not finish within "
                                f"{seconds:g} s", "values", wanted)
        self.rng = part(answer, "rng", dict, None)
        for name, data in part(answer, "values", dict, {}).items():
            if name in wanted:
                value = decode_answer(data, name)
                self.fetched[name] = StudentFunction(name, self.bridge, self.clock) if isinstance(value, kernel_agent.KernelFunction) else value
        return [n for n in wanted if n not in self.fetched]


class CellJudge:
    """Runs a submission's test cells in order, in one grader namespace, each against the kernel."""

    def __init__(self, library: list[str], tests: dict[str, TestCell], bridge: KernelBridge, grading_seed: int,
                 env: dict[str, str], clock: CallClock | None = None) -> None:
        self.bridge = bridge
        self.clock = clock or CallClock()
        self.namespace = GraderNamespace(bridge, self.clock)
        self.verdict: CellVerdict | None = None
        self.cell: TestCell | None = None
        with JUDGE_LOCK, patch.dict(os.environ, env):  # the library reads the grading budget from it
            for index, source in enumerate(library):
                exec(compile(strip_magics(source), f"<library {index}>", "exec"), self.namespace)
            # The functions test cells define exist from the start, so a cell that stops early (a
            # missing name) does not take a later cell's helper with it.
            for test in tests.values():
                tree = ast.parse(test.source)
                tree.body = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
                exec(compile(tree, cell_filename(test.grade_id), "exec"), self.namespace)
        self.compare = self.namespace["compare"]
        self.as_plain = self.namespace["as_plain"]
        self.namespace.update(check=self.check, require=self.require, note_difference=self.note_difference,
                              GRADING_SEED=grading_seed)

    def run(self, cell: TestCell) -> CellVerdict:
        """Run one test cell; the verdict holds every check it made and the error it stopped on."""
        self.cell, self.verdict = cell, CellVerdict(cell.grade_id, 0.0, cell.points)
        with JUDGE_LOCK:
            try:
                self.clock.start_cell(cell.grade_id)
                self.namespace.start_cell(cell.required)
                exec(compile(cell.source, cell_filename(cell.grade_id), "exec"), self.namespace)
            except StudentCodeError as error:
                self.verdict.error = error.args[0]
                self.verdict.details = " ".join(str(a) for a in error.args[1:])
                if isinstance(error, KernelDied):
                    raise
            except Exception as error:  # trusted code tripped on a student's value: its message may quote that value
                self.verdict.error = f"the checks could not use your values ({type(error).__name__})"
                self.verdict.details = f"{type(error).__name__}: {str(error)[:300]}"
        verdict = self.verdict
        if verdict.checks and not verdict.error and all(c.passed for c in verdict.checks):
            verdict.points = cell.points
        return verdict

    # -- what test cells call ---------------------------------------------------------------------
    def check(self, name: str, value: Any, expect: Any = None, rtol: float = 1e-7, atol: float = 0.0,
              below: float | None = None, above: float | None = None, msg: str | None = None) -> None:
        site = self.cell.site_at(caller_line(self.cell.grade_id))
        try:
            plain = self.as_plain(value)
            problem = self.compare(plain, self.as_plain(expect), rtol, atol, below, above)
        except TypeError:
            plain, problem = None, f"got a {type(value).__name__}, which is not plain data"
        if expect is None and below is None and above is None:
            problem = "the check states no expected value"
        self.verdict.checks.append(CheckVerdict(str(name), problem is None, site.hidden, message_for(site, problem, plain), site))

    def require(self, *names: str) -> None:
        missing = [n for n in names if n in self.namespace.required and n not in self.namespace.fetched]
        if missing:
            raise StudentCodeError(f"not defined: {', '.join(missing)} (the exercise asks for these names)")

    def note_difference(self, what: str, reported: float, measured: float, rtol: float) -> None:
        """A number the kernel reported that the grader measured differently: for a person to look at."""
        try:
            if abs(float(reported) / float(measured) - 1) <= rtol:
                return
        except (TypeError, ValueError, ZeroDivisionError):
            pass
        self.verdict.flags.append(f"{what}: the notebook reports {short(reported)}, the grader measures {short(measured)}")


def short(value: Any) -> str:
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return type(value).__name__


def cell_filename(grade_id: str) -> str:
    return f"<test cell {grade_id}>"


def caller_line(grade_id: str) -> int:
    """The line of the test cell that called `check` (the call may sit in a helper the cell defines)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename != cell_filename(grade_id):
        frame = frame.f_back
    return frame.f_lineno if frame is not None else 0


def strip_magics(source: str) -> str:
    """Notebook code as plain Python: IPython's %magics are for kernels only."""
    return "\n".join("" if line.lstrip().startswith("%") else line for line in source.splitlines())
