"""Wall-clock figures that tests do not assert (they depend on the machine): how fast a second batch is refused, and
how far below a cell's time limit the grader's per-call limits sit (set from the master's own calls).

Run: .venv/bin/python bench/timings.py
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from dvwcourse.batch_lock import BatchRunning, batch_lock
from dvwcourse.course_copy import copy_course
from dvwcourse.release import build_release
from dvwcourse.safe_grading import Grader
from dvwcourse.settings import load_course

REPO = Path(__file__).resolve().parents[1]


def refusal_seconds(folder: Path, runs: int = 20) -> list[float]:
    """Seconds for a second holder of the batch lock to be refused, while the first holds it."""
    times = []
    with batch_lock(folder):
        for _ in range(runs):
            started = time.perf_counter()
            try:
                with batch_lock(folder):
                    raise AssertionError("a second holder got the lock")
            except BatchRunning:
                times.append(time.perf_counter() - started)
    return times


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dvw-bench-") as folder:
        refused = refusal_seconds(Path(folder))
        print(f"second batch refused in {statistics.median(refused) * 1000:.2f} ms (median of {len(refused)}; "
              f"max {max(refused) * 1000:.2f} ms; expected well under 1 s)")
        (Path(folder) / "course").mkdir()
        course = copy_course(load_course(REPO), Path(folder) / "course")
        build_release(course)
        limits = Grader(course).master_data()["call_seconds"]
        cell = course.sandbox.cell_seconds
        print(f"per-call limits set from the master's calls (a cell's limit is {cell:g} s; expected under a quarter of it):")
        for name, seconds in sorted(limits.items()):
            print(f"  {name:20s} {seconds:7.2f} s  ({seconds / cell:.0%} of a cell's limit)")


if __name__ == "__main__":
    main()
