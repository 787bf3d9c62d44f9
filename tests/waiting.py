"""Waiting in tests without clocks: poll a condition (a deadline only as a safety net), and how much work a process did."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def wait_until(condition: Callable[[], T], what: str, seconds: float = 120, every: float = 0.05) -> T:
    """Poll `condition` until it gives something true and return that; fail naming `what` after `seconds`, a bound
    far above the time it takes (the test waits for a state, never for an amount of time)."""
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, f"gave up waiting for {what} after {seconds:g} s"
        time.sleep(every)
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used (0 once it is gone): how far its work has gone, whatever the machine's load."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime and stime, fields 14 and 15 of stat(5)


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and all its descendants (a sandbox's own process does little; its kernel below it works)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        total += cpu_seconds(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue  # it ended while we looked
    return total
