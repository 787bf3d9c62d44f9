"""The grading sandbox: no network, nothing of the course visible, nothing writable but scratch."""
from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import threading
from dataclasses import replace

import nbformat
import pytest
import zmq

from dvwcourse.kernel.execution import (KERNEL_ARGV, MAX_SOCKET_PATH, LaunchedKernelManager, ipc_connection, prepare_scratch, run_in_kernel,
                                 run_notebook)
from dvwcourse.kernel.sandbox import KernelLauncher, make_launcher
from dvwcourse.kernel.scratch import scratch_folder

pytestmark = pytest.mark.integration  # starts kernels

PROBE = r'''
import json, os, socket
found = {}
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=3)
    found["socket"] = "connected"
except OSError as error:
    found["socket"] = type(error).__name__
found["source_visible"] = os.path.exists(SOURCE)
found["gradebook_visible"] = os.path.exists(GRADEBOOK)
found["course_listing"] = os.listdir(ROOT) if os.path.isdir(ROOT) else None
found["host_system_visible"] = os.path.exists("/var/lib/dpkg/status")  # outside /tmp, outside the sandbox's system folders
writable = {}
for target in [ROOT + "/planted.txt", "/usr/planted.txt", "/etc/planted.txt", os.environ["HOME"] + "/planted.txt"]:
    try:
        with open(target, "w") as handle:
            handle.write("x")
        writable[target] = True
    except OSError:
        writable[target] = False
found["writable"] = writable
found["uid"] = os.getuid()
found["grader_secret_seen"] = "DVW_TEST_SECRET" in os.environ
print(json.dumps(found))
'''


def probe(course, launcher, port):
    os.environ["DVW_TEST_SECRET"] = "the grader's environment stays with the grader"
    code = (PROBE.replace("PORT", str(port)).replace("SOURCE", repr(str(course.source_notebook)))
            .replace("GRADEBOOK", repr(str(course.root / "gradebook.db"))).replace("ROOT", repr(str(course.root))))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code, id="probe")])
    result = run_notebook(nb, {}, launcher, {})
    assert not result.errors, result.errors
    return json.loads("".join(o.get("text", "") for o in nb.cells[0].outputs))


@pytest.fixture
def listener():
    """A TCP server on the host's loopback that the sandbox must not reach."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    threading.Thread(target=lambda: server.accept(), daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def test_sandboxed_kernel_sees_and_reaches_nothing_of_the_host(course_copy, listener):
    course = course_copy
    launcher = make_launcher(course.sandbox)
    assert launcher.sandboxed, "bubblewrap must work on this machine (bin/setup installs it)"
    found = probe(course, launcher, listener)
    assert found["socket"] != "connected"
    assert not found["source_visible"] and not found["gradebook_visible"] and not found["host_system_visible"]
    assert found["course_listing"] in (None, [".venv"])  # only the Python environment is mounted
    home = [k for k in found["writable"] if k.endswith("planted.txt") and not k.startswith(("/usr", "/etc", str(course.root)))]
    assert found["writable"] == {**{k: False for k in found["writable"]}, **{k: True for k in home}}
    assert found["uid"] != 0
    assert not found["grader_secret_seen"]
    assert not (course.root / "planted.txt").exists()


def test_without_bubblewrap_the_same_probe_shows_what_is_exposed(course_copy, listener):
    course = course_copy
    # The fallback keeps only resource limits (the summary and report say so: test_grading_runs, test_isolation_statement).
    launcher = KernelLauncher(replace(course.sandbox), sandboxed=False)
    found = probe(course, launcher, listener)
    # It reaches the network and reads the host's files (below /tmp, where a CI clone may live, it sees its
    # own bounded /tmp instead)...
    assert found["socket"] == "connected" and found["host_system_visible"]
    # ...but, as an unprivileged user, writes nothing but its scratch folder (its HOME) and that /tmp.
    (writable,) = [target for target, done in found["writable"].items() if done]
    assert not writable.startswith(("/usr", "/etc", str(course.root))) and found["uid"] != 0


def open_zmq_contexts() -> set[int]:
    gc.collect()
    return {id(o) for o in gc.get_objects() if isinstance(o, zmq.Context) and not o.closed}


def test_a_kernel_start_that_fails_half_way_leaves_no_kernel_and_no_open_zmq_context(course):
    """A context collected with its open sockets hangs its finalizer: every context of a failed start is closed at once."""
    launcher = make_launcher(course.sandbox)
    before = open_zmq_contexts()
    with scratch_folder(launcher.settings, launcher.bounded) as scratch:
        prepare_scratch(scratch, [])
        # Too deep for a Unix socket: the manager's first connect fails after the kernel's process started.
        deep = {**ipc_connection(scratch), "ip": str(scratch / ("k" * MAX_SOCKET_PATH))}
        km = LaunchedKernelManager(launcher.command(KERNEL_ARGV, scratch), **deep)
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1", id="one")])
        with pytest.raises(zmq.ZMQError):
            asyncio.run(run_in_kernel(nb, None, launcher.settings, km, {}, scratch))
        assert not km.has_kernel and km.context.closed
    assert open_zmq_contexts() <= before
