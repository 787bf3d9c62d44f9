"""One batch at a time: the course's batch lock refuses a second holder at once and dies with its holder."""
from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from dvwcourse.batch_lock import BatchRunning, batch_lock

HOLDER = """
import sys
from pathlib import Path
from dvwcourse.batch_lock import batch_lock
with batch_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_second_holder_is_refused_at_once_and_told_who_holds_it(tmp_path):
    """At once: a second holder that waited would hang here, in the holder's own process (bench/timings.py times it)."""
    with batch_lock(tmp_path):
        with pytest.raises(BatchRunning, match=r"already grading this course \(pid \d+ on"):
            with batch_lock(tmp_path):
                pass
    with batch_lock(tmp_path):  # released: free again
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(BatchRunning, match=f"pid {holder.pid} "):
            with batch_lock(tmp_path):
                pass
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        with batch_lock(tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait()
