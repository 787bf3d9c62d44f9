"""The template of a warm grading kernel: runs the master's setup cells once, then forks one kernel per submission.

Run as `python -c SOURCE` (the sandbox does not see this package), started by the grader with exactly the command of a cold kernel (the
same sandbox, limits and unprivileged uid; see dvwcourse.kernel.warm_kernels). It imports what the notebook
imports and runs the master's locked setup cells (instructor code only, never an answer cell), then
waits for the grader's requests, one JSON object per line on stdin, answering one per line on its
original stdout:

  {"setup": [source, ...]}            -> {"ready": [[output, ...] per cell]} or {"failed": why}
  {"fork": {"connection_file", "env", "cwd"}} -> {"forked": pid}: the child becomes an ipykernel
                                         whose user namespace is the setup cells' globals
  {"reap": {}}                        -> {"reaped": left}: every other process of this uid killed

It forks from a single thread (torch's and OpenMP's pools start later, in the child), and it is not
dumpable, so the kernels it forks (same uid) cannot trace it or read its memory.
"""
from __future__ import annotations

import ast
import contextlib
import ctypes
import io
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # what ipykernel sets for its kernels
# A cold kernel has imported its own modules, its debugger and pdb before any cell runs (libraries such as
# tqdm.auto look for them to choose their notebook flavour), so the template imports them first.
KERNEL_IMPORTS = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.comm", "ipykernel.debugger",
                  "pdb", "sqlite3")
# Modules that grading kernels import on first use at a fixed cost per submission, and that change no state
# a notebook sees: torch's first optimizer imports torch._dynamo (about 1 s of the first training test cell).
WARM_IMPORTS = ("torch._dynamo",)
# The only magic a setup cell may use: it configures the kernel's shell, so each child repeats it.
SHELL_MAGICS = ("matplotlib",)


def _prctl(option: int, value: int) -> None:
    ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def thread_count() -> int:
    return len(os.listdir("/proc/self/task"))


def shell_magics(sources: list[str]) -> list[tuple[str, str]]:
    """(name, argument) of each line magic in the setup cells; any other magic is refused."""
    found = []
    for source in sources:
        for line in source.splitlines():
            if line.lstrip().startswith("%"):
                name, _, argument = line.strip().lstrip("%").partition(" ")
                if name not in SHELL_MAGICS:
                    raise ValueError(f"setup cells may use only %{', %'.join(SHELL_MAGICS)} with warm kernels, not %{name}")
                found.append((name, argument.strip()))
    return found


class Template:
    """The setup cells' globals, held in an IPython shell configured like a kernel's (libraries such as
    tqdm.auto choose their kernel flavour by it)."""

    def __init__(self, sources: list[str]) -> None:
        os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
        for module in KERNEL_IMPORTS:
            __import__(module)
        from traitlets.config import Config
        from IPython.core.interactiveshell import InteractiveShell

        config = Config()
        config.IPKernelApp.parent_handle = 1  # a kernel's config has this section
        config.HistoryManager.enabled = False  # no history thread, no database
        self.shell = InteractiveShell.instance(config=config)
        self.magics = shell_magics(sources)
        self.outputs = [self._run(source) for source in sources]
        self.random_states = random_states()
        environment = dict(os.environ)
        for module in WARM_IMPORTS:
            __import__(module)
        os.environ.clear()  # as the setup cells left it: torch._dynamo sets its cache folder when it is imported
        os.environ.update(environment)

    def _run(self, source: str) -> list[dict[str, Any]]:
        """Run one setup cell as a kernel would; its outputs as nbformat outputs (streams, displays, the last value)."""
        from IPython.utils.capture import capture_output

        # Its magics configure the kernel's shell: each child runs them on its own (become_kernel).
        code = "\n".join("" if line.lstrip().startswith("%") else line for line in source.splitlines())
        tree = ast.parse(self.shell.transform_cell(code))
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        namespace = self.shell.user_ns
        with capture_output() as captured:
            exec(compile(tree, "<setup>", "exec"), namespace)
            value = eval(compile(ast.Expression(last.value), "<setup>", "eval"), namespace) if last else None
        outputs = [{"output_type": "stream", "name": name, "text": text}
                   for name, text in (("stdout", captured.stdout), ("stderr", captured.stderr)) if text]
        outputs += [{"output_type": "display_data", "data": shown.data, "metadata": shown.metadata} for shown in captured.outputs]
        if value is not None:
            data, metadata = self.shell.display_formatter.format(value)
            outputs.append({"output_type": "execute_result", "data": data, "metadata": metadata, "execution_count": None})
        return outputs

    def become_kernel(self, connection_file: str, env: dict[str, str], cwd: str) -> None:
        """In the forked child: a fresh session, the kernel's environment, an ipykernel on these globals."""
        template = os.getppid()
        os.setsid()
        _prctl(PR_SET_DUMPABLE, 1)  # like a cold kernel; the template stays undumpable
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # it goes with its template, which goes with the grader
        if os.getppid() != template:
            return  # the template is already gone
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # its output reaches the grader through the kernel's messages only
            os.dup2(null, fd)
        # The template's environment is the kernel's (the sandbox's additions, what imports and setup cells set);
        # the grader's adds what identifies this kernel's session.
        for name, value in env.items():
            os.environ.setdefault(name, value)
        os.chdir(cwd)
        from IPython.core.interactiveshell import InteractiveShell
        from ipykernel.kernelapp import IPKernelApp
        from matplotlib_inline import backend_inline
        from matplotlib_inline.config import InlineBackend

        namespace = self.shell.user_ns
        for singleton in (InlineBackend, InteractiveShell):  # the kernel makes its own shell
            singleton.clear_instance()
        # matplotlib_inline gives a shell its figure formats (PNG) once per process: the template's shell had them.
        vars(backend_inline.configure_inline_support).pop("current_backend", None)
        app = IPKernelApp.instance(user_ns=namespace)
        app.initialize(["-f", connection_file, "--IPKernelApp.parent_handle=1"])
        for name, argument in self.magics:
            app.shell.run_line_magic(name, argument)

        def restore_random_states(*_: Any) -> None:
            # The kernel's start-up draws from Python's generator (a cold kernel does so before the setup cells).
            set_random_states(self.random_states)
            app.shell.events.unregister("pre_run_cell", restore_random_states)

        app.shell.events.register("pre_run_cell", restore_random_states)
        app.start()


def random_states() -> dict[str, Any]:
    """The states of the random generators a notebook may use: Python's, NumPy's and torch's (when imported)."""
    import random

    states: dict[str, Any] = {"random": random.getstate()}
    if "numpy" in sys.modules:
        states["numpy"] = sys.modules["numpy"].random.get_state()
    if "torch" in sys.modules:
        states["torch"] = sys.modules["torch"].get_rng_state()
    return states


def set_random_states(states: dict[str, Any]) -> None:
    import random

    random.setstate(states["random"])
    if "numpy" in states:
        sys.modules["numpy"].random.set_state(states["numpy"])
    if "torch" in states:
        sys.modules["torch"].set_rng_state(states["torch"])


def reap(seconds: float = 5.0) -> int:
    """Kill every other process of this uid (the kernel and whatever it started) and wait for its children
    to end; how many children remain."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signal.SIGKILL)  # every process this uid may signal, but this one
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        if not children() or time.monotonic() > deadline:
            return len(children())
        time.sleep(0.01)


def children() -> list[int]:
    """Processes whose parent is this one (zombies included)."""
    me = str(os.getpid())
    found = []
    for task in Path(f"/proc/{me}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(pid) for pid in (task / "children").read_text().split()]
    return found


def serve(template: Template, requests: TextIO, replies: TextIO) -> None:
    for line in requests:
        request = json.loads(line)
        if "fork" in request:
            if thread_count() != 1:
                reply: dict[str, Any] = {"failed": f"the template runs {thread_count()} threads: forking is unsafe"}
            else:
                pid = os.fork()
                if pid == 0:
                    try:
                        os.close(replies.fileno())  # the kernel never writes to the grader's channel
                        template.become_kernel(**request["fork"])
                    finally:
                        os._exit(0)
                reply = {"forked": pid}
        elif "reap" in request:
            reply = {"reaped": reap()}
        else:
            reply = {"failed": f"unknown request {sorted(request)}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def main() -> None:
    _prctl(PR_SET_DUMPABLE, 0)
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # what the setup code prints goes to stderr, never into the replies
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0), write_through=True)
    request = json.loads(sys.stdin.readline())
    try:
        template = Template(request["setup"])
        if thread_count() != 1:
            raise RuntimeError(f"the setup started {thread_count() - 1} threads: forking after that is unsafe")
    except Exception as error:
        replies.write(json.dumps({"failed": f"{type(error).__name__}: {error}", "details": traceback.format_exc(limit=5)}) + "\n")
        replies.flush()
        return
    replies.write(json.dumps({"ready": template.outputs}) + "\n")
    replies.flush()
    serve(template, sys.stdin, replies)


if __name__ == "__main__":
    main()
