"""How much a disk-filling submission can write, and how fast it is stopped, in each mode.

A kernel writes 10 MB files into every place it might write (working folder, HOME, /tmp, /var/tmp,
/dev/shm, the course folder) until refused, with the course's own bounds from course.yml. Printed per
mode: what it stored in each place and the seconds until the refusal, the total, and how much the
host's disk (the file system of the course and of the scratch folders) grew at most meanwhile
(sampled every 10 ms; other programs on the machine add noise).

Run (as root): .venv/bin/python bench/disk_bounds.py
"""
from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import nbformat

from dvwcourse.kernel.execution import run_notebook
from dvwcourse.kernel.sandbox import KernelLauncher
from dvwcourse.settings import load_course, megabytes

REPO = Path(__file__).resolve().parents[1]
CAP_BYTES = 2_000_000_000  # per place: where a bound failed, the run stops here instead of filling the disk

FILLER = r'''
import json, os, shutil, time
def fill(folder, cap):
    reason, started = "never refused", time.monotonic()
    try:
        os.makedirs(folder, exist_ok=True)
        for index in range(cap // 10**7):
            with open(os.path.join(folder, f"fill-{index}"), "wb") as handle:
                for _ in range(10):
                    handle.write(b"x" * 10**6)
                    handle.flush()
    except OSError as error:
        reason = error.strerror
    seconds = time.monotonic() - started
    stored = sum(e.stat().st_size for e in os.scandir(folder)) if os.path.isdir(folder) else 0
    return [stored, reason, seconds]
places = {"working folder": "fill-cwd", "HOME": os.environ["HOME"] + "/fill-home", "/tmp": "/tmp/dvw-fill-tmp",
          "/var/tmp": "/var/tmp/dvw-fill-var", "/dev/shm": "/dev/shm/dvw-fill-shm", "course folder": COURSE + "/dvw-fill"}
filled = {name: fill(folder, CAP) for name, folder in places.items()}
for name in ["/tmp", "/var/tmp", "/dev/shm", "course folder"]:
    shutil.rmtree(places[name], ignore_errors=True)
print(json.dumps(filled))
'''


class PeakGrowth:
    """The largest growth of a file system's used bytes while the block runs."""

    def __init__(self, path: Path) -> None:
        self.path, self.peak, self._done = path, 0, threading.Event()

    def __enter__(self) -> "PeakGrowth":
        self._start = shutil.disk_usage(self.path).used
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.01):
            self.peak = max(self.peak, shutil.disk_usage(self.path).used - self._start)

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def measure(course, sandboxed: bool) -> None:
    launcher = KernelLauncher(course.sandbox, sandboxed=sandboxed)
    code = FILLER.replace("COURSE", repr(str(course.root))).replace("CAP", str(CAP_BYTES))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code, id="fill"), nbformat.v4.new_code_cell("print('next cell ran')", id="next")])
    started = time.perf_counter()
    with PeakGrowth(course.root) as disk:
        result = run_notebook(nb, {}, launcher, {})
    seconds = time.perf_counter() - started
    filled = json.loads("".join(o.get("text", "") for o in nb.cells[0].outputs))
    print(f"\n{'sandboxed' if sandboxed else 'limits only'}: {launcher.description}")
    for place, (stored, reason, took) in filled.items():
        print(f"  {place:15} {megabytes(stored):>7} MB stored, stopped after {took:.2f} s: {reason}")
    print(f"  total written by the kernel: {megabytes(sum(v[0] for v in filled.values()))} MB (all of it in its tmpfs mounts, in memory)")
    print(f"  host disk ({course.root}'s file system) grew by at most {megabytes(disk.peak)} MB during the run")
    print(f"  whole run {seconds:.1f} s; next cell: {''.join(o.get('text', '') for o in nb.cells[1].outputs).strip()!r}; notes: {result.notes}")


def main() -> None:
    course = load_course(REPO)
    cells = sum(c.cell_type == "code" for c in nbformat.read(course.source_notebook, as_version=4).cells)
    print(f"Bounds from course.yml: working folder and HOME {megabytes(course.sandbox.work_folder_bytes)} MB, "
          f"/tmp {megabytes(course.sandbox.scratch_tmpfs_bytes)} MB; the graded notebook the grader writes holds at most "
          f"{megabytes(course.sandbox.max_output_bytes_per_cell)} MB of output per cell x {cells} code cells")
    for sandboxed in (True, False):
        measure(course, sandboxed)


if __name__ == "__main__":
    main()
