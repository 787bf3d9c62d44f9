"""Grading throughput on N copies of a correct submission, every configuration measured in one run.

Prints seconds per submission and submissions per minute for cold and warm kernels (sandbox.warm_kernels)
on 1 and 2 local workers and a local 2-worker Dask cluster, and for plain `nbgrader autograde` over
the same submissions; then where the time of one submission goes, cold and warm.
Each batch starts its own templates (a new grader each), as a `dvwcourse grade` run does; the
master's expected values are computed before the batches.
Then every code cell of the master in a plain process (the floor) against a warm kernel, and with --class-sizes,
seconds per submission and the grader's peak memory (its process and all children) at each class size.
Run: .venv/bin/python bench/grading_throughput.py [--copies N] [--class-sizes 10 40]
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

from dvwcourse.bundle import PackedSubmission
from dvwcourse.cells import grade_id, is_solution, is_test_cell
from dvwcourse.checkspec import library_indexes
from dvwcourse.course_copy import copy_course
from dvwcourse.intake import find_submissions
from dvwcourse.release import build_release
from dvwcourse.safe_grading import Evaluation, Grader
from dvwcourse.samples import fill_answers, sample_answers
from dvwcourse.settings import Course, load_course
from dvwcourse.workers import DaskWorkers, LocalWorkers

REPO = Path(__file__).resolve().parents[1]
NBGRADER = "plain nbgrader autograde"
EXPERIMENTS = ("deep_student", "width_sweep", "quasi_linear_student")
# This process's environment before any Dask cluster: a LocalCluster's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in the
# environment of the process that starts it (distributed's nanny.pre-spawn-environ), and with it a plain process runs the
# width sweep about 1.8x slower (0.61 -> 1.12 s). The floor and plain nbgrader run in this environment, not the leaked one.
HOST_ENV = dict(os.environ)

# The master's code cells, all of them in order (the random streams as in a kernel), in a plain Python process:
# no kernel, no sandbox, no grader. Each cell's figures are drawn to PNG and closed at its end, as the kernel's inline
# backend does (a student's Jupyter draws them too; on Agg alone plt.show() draws nothing, which made the experiment
# cells, which all plot, look 6-16% faster here than in a kernel).
PLAIN_RUN = """
import io, json, sys, time
import nbformat
from dvwcourse.cells import grade_id
from dvwcourse.trusted_tests import strip_magics

def draw_figures():
    plt = sys.modules.get("matplotlib.pyplot")
    if plt:
        for number in plt.get_fignums():
            plt.figure(number).savefig(io.BytesIO(), format="png", bbox_inches="tight")
        plt.close("all")

timings, namespace = {}, {}
for cell in nbformat.read(sys.argv[1], as_version=4).cells:
    if cell.cell_type == "code":
        key, start = grade_id(cell) or cell.id, time.perf_counter()
        exec(compile(strip_magics(cell.source), key, "exec"), namespace)
        draw_figures()
        timings[key] = time.perf_counter() - start
print(json.dumps(timings))
"""


def plain_process(course: Course, notebook: Path) -> subprocess.Popen:
    """The code cells of `notebook` at the grading budget, in a plain single-threaded process; it prints each cell's seconds."""
    # NBGRADER_EXECUTION as the grader sets it for its kernels (Grader.notebook_env): the demo then skips its widget.
    env = {**HOST_ENV, **course.grading_env, "NBGRADER_EXECUTION": "autograde", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", PLAIN_RUN, str(notebook)], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def cell_seconds(process: subprocess.Popen) -> dict[str, float]:
    out, _ = process.communicate()
    if process.returncode:
        raise RuntimeError(f"the plain run of the notebook failed (exit {process.returncode})")
    return json.loads(out.splitlines()[-1])


def cells_in_a_plain_process(course: Course, notebook: Path) -> dict[str, float]:
    """Seconds of each code cell of `notebook` at the grading budget, in a plain single-threaded process:
    the floor that no kernel or sandbox can go below (the median of three runs)."""
    runs = [cell_seconds(plain_process(course, notebook)) for _ in range(3)]
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def plain_pair_scaling(course: Course, notebook: Path, setup: set[str], rounds: int = 3) -> float:
    """How two copies of the notebook's own code scale on this machine's cores, without kernels or a grader: the seconds of
    their non-setup cells run one after the other, over those of the slower of the two run at once (median of `rounds`)."""
    def work(run: dict[str, float]) -> float:
        return sum(seconds for key, seconds in run.items() if key not in setup)

    ratios = []
    for _ in range(rounds):
        apart = sum(work(cell_seconds(plain_process(course, notebook))) for _ in range(2))
        together = [plain_process(course, notebook) for _ in range(2)]
        ratios.append(apart / max(work(cell_seconds(process)) for process in together))
    return statistics.median(ratios)


def print_ceilings(walls: dict[str, float], rows: dict[str, list[Evaluation]], course: Course, kinds: dict[str, str],
                   graded: dict[str, float]) -> None:
    """What 2 warm workers could reach on this machine at best: the template start each worker pays alone, and the rest
    scaling as the student's own code scales in two plain processes; against plain nbgrader, the same with every
    submission costing only its non-setup cells in a plain process (`graded`: the graded copy's cells there)."""
    setup = {key for key, kind in kinds.items() if kind == "setup"}
    pair = plain_pair_scaling(course, course.submitted_notebook("student000"), setup)
    one, two = walls["warm, 1 local worker"], walls["warm, 2 local workers"]
    start = max(e.timings.get("template_start", 0.0) for e in rows["warm, 1 local worker"])
    floor = sum(seconds for key, seconds in graded.items() if key not in setup)
    n = len(rows["warm, 1 local worker"])
    print(f"\nCeilings on this machine: two plain processes of the graded copy's code, at once vs one after the other: {pair:.2f}x")
    print(f"  warm, 2 local workers vs 1: measured {one / two:.2f}x; at best {one / (start + (one - start) / pair):.2f}x"
          f" (each worker's template start, {start:.1f} s, is not shared; the rest scales {pair:.2f}x)")
    print(f"  warm, 2 local workers vs plain nbgrader: measured {walls[NBGRADER] / two:.2f}x; at best"
          f" {walls[NBGRADER] / (start + n * floor / pair):.2f}x (a template start, then each submission only its non-setup cells"
          f" in a plain process, {floor:.2f} s, on 2 cores scaling {pair:.2f}x)")


def tree_rss_bytes(root: int) -> int:
    """Resident memory of process `root` and all its descendants (kernels, templates, Dask workers)."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
                parents[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError):
                pass
    tree, grew = {root}, True
    while grew:
        found = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= found
        grew = bool(found)
    total = 0
    for pid in tree:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            pass
    return total


class PeakMemory:
    """The peak resident memory of this process and its descendants while in the `with` block (sampled every 0.2 s)."""

    def __enter__(self) -> "PeakMemory":
        self.idle = self.peak = tree_rss_bytes(os.getpid())
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.2):
            self.peak = max(self.peak, tree_rss_bytes(os.getpid()))

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()


def class_growth(course: Course, correct: nbformat.NotebookNode, sizes: list[int]) -> None:
    """Warm kernels, 2 local workers: seconds per submission and the grader's peak memory at each class size."""
    for index in range(max(sizes)):
        write_submission(course, f"student{index:03d}", correct)
    submissions = find_submissions(course)
    course = with_warm_kernels(course, True)
    print("\nCost as the class grows (warm kernels, 2 local workers; memory: the grading process and all its children,"
          " sampled every 0.2 s):")
    print(f"  {'copies':>6} {'wall s':>7} {'s/submission':>13} {'peak GB':>8} {'over idle GB':>13} {'scores':>10}")
    for size in sizes:
        with PeakMemory() as memory:
            wall, evaluations = timed_batch(course, submissions[:size], LocalWorkers(2))
        scores = sorted({e.report.score for e in evaluations})
        print(f"  {size:6} {wall:7.1f} {wall / size:13.2f} {memory.peak / 1e9:8.2f} {(memory.peak - memory.idle) / 1e9:13.2f} {str(scores):>10}")


def write_submission(course: Course, student: str, nb: nbformat.NotebookNode) -> None:
    """`nb` as student's submission in submitted/ (as nbgrader collect leaves it)."""
    path = course.submitted_notebook(student)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def with_warm_kernels(course: Course, on: bool) -> Course:
    """The course with sandbox.warm_kernels set in course.yml (Dask workers read it from there)."""
    path = course.root / "course.yml"
    text = path.read_text()
    path.write_text(text.replace(f"warm_kernels: {'false' if on else 'true'}", f"warm_kernels: {'true' if on else 'false'}"))
    course = load_course(course.root)
    assert course.sandbox.warm_kernels == on
    return course


def timed_batch(course: Course, submissions, workers, templates_up: bool = False) -> tuple[float, list[Evaluation]]:
    """One batch on a grader of its own (its templates start within the batch, or with `templates_up` before it, as in
    the long run of a large class); the master's values are cached."""
    grader = Grader(course)
    grader.master_data()
    if templates_up:  # one submission per worker, untimed: each worker's template starts and stays up
        grader.grade_all(submissions[:getattr(workers, "count", 1)], force=True, workers=workers)
    evaluations: list[Evaluation] = []
    start = time.perf_counter()
    grader.grade_all(submissions, force=True, workers=workers, progress=evaluations.append)
    return time.perf_counter() - start, evaluations


def cell_kinds(course: Course) -> dict[str, str]:
    """Each code cell of the master by the key the timings use: setup (the library cells a warm template
    runs), test, answer or locked."""
    master = nbformat.read(course.source_notebook, as_version=4)
    setup = set(library_indexes(master))
    return {
        grade_id(cell) or cell.id: "setup" if index in setup else "test" if is_test_cell(cell) else "answer" if is_solution(cell) else "locked"
        for index, cell in enumerate(master.cells) if cell.cell_type == "code"
    }


def breakdown(evaluations: list[Evaluation], kinds: dict[str, str]) -> dict[str, float]:
    """Medians of where one submission's time goes."""
    def median(pick) -> float:
        return statistics.median(pick(e) for e in evaluations)

    def cells(kind: str, e: Evaluation) -> float:
        return sum(v for k, v in e.timings.items() if k.startswith("cell ") and kinds.get(k[5:]) == kind)

    parts = {
        "kernel start (sandbox + ipykernel; warm: a fork)": median(lambda e: e.timings["kernel_start"]),
        "setup cells (imports; warm: ran in the template)": median(lambda e: cells("setup", e)),
    }
    for key in (*EXPERIMENTS, "expressivity_demo"):
        parts[f"  {key}"] = median(lambda e: e.timings.get(f"cell {key}", 0.0))
    parts.update({
        "answer cells (the student's work)": median(lambda e: cells("answer", e)),
        "other locked cells (demos, plots)": median(lambda e: cells("locked", e)),
        "test cells, judged in the grader": median(lambda e: cells("test", e)),
        "  test_train_model (first optimizer)": median(lambda e: e.timings.get("cell test_train_model", 0.0)),
        "all cells": median(lambda e: e.timings["cells"]),
        "gradebook, graded notebook, feedback": median(lambda e: e.timings["record"]),
        "end to end": median(lambda e: e.report.seconds + e.timings["record"]),
    })
    return parts


def print_dask_costs(walls: dict[str, float], rows: dict[str, list[Evaluation]], grader: Grader, submissions) -> None:
    """What a Dask cluster pays beyond local workers: per submission (the median one, end to end, and the bytes each task
    ships), and once per worker (the rest of the wall-time gap: the bundle, the worker's grader, its first submission)."""
    one_task = len(pickle.dumps(PackedSubmission.pack(submissions[0]))) + len(pickle.dumps(rows["warm, Dask, 2 local workers"][0]))
    print(f"Dask ships the bundle once per worker ({len(pickle.dumps(grader.job().bundle())) / 1e3:.0f} kB) and"
          f" {one_task / 1e3:.0f} kB per submission (its files in, its evaluation with the graded notebook back)")
    for kind in ("cold", "warm"):
        local, dask = f"{kind}, 2 local workers", f"{kind}, Dask, 2 local workers"
        per_submission = statistics.median(e.report.seconds for e in rows[dask]) - statistics.median(e.report.seconds for e in rows[local])
        per_worker = walls[dask] - walls[local] - per_submission * len(rows[dask]) / 2
        print(f"  {kind}: Dask vs 2 local workers: {per_submission:+.2f} s per submission (medians), {per_worker:+.1f} s once per worker"
              " (the rest of the wall-time gap)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--class-sizes", type=int, nargs="*", default=[], metavar="N",
                        help="also grade N copies (warm, 2 local workers) for each N, printing time per submission and peak memory")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dvw-bench-") as folder:
        course = copy_course(load_course(REPO), Path(folder))
        build_release(course)
        release = nbformat.read(course.release_notebook, as_version=4)
        correct = fill_answers(release, sample_answers(course, "alternative_solutions"), "bench")
        for index in range(args.copies):
            write_submission(course, f"student{index:03d}", correct)
        submissions = find_submissions(course)
        from distributed import LocalCluster

        walls: dict[str, float] = {}
        rows: dict[str, list[Evaluation]] = {}
        for warm in (False, True):
            course = with_warm_kernels(course, warm)
            kind = "warm" if warm else "cold"
            start = time.perf_counter()
            Grader(course).master_data()
            print(f"master's expected values ({kind}, once per master version): {time.perf_counter() - start:.1f} s")
            for label, workers in [(f"{kind}, 1 local worker", LocalWorkers(1)), (f"{kind}, 2 local workers", LocalWorkers(2))]:
                walls[label], rows[label] = timed_batch(course, submissions, workers)
            # Workers start as docs/dask.md says (--preload dvwcourse.worker_preload): imports when the cluster starts.
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                              preload=["dvwcourse.worker_preload"]) as cluster:
                label = f"{kind}, Dask, 2 local workers"
                walls[label], rows[label] = timed_batch(course, submissions, DaskWorkers(cluster.scheduler_address))

        env = {**HOST_ENV, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{HOST_ENV['PATH']}"}
        start = time.perf_counter()
        subprocess.run(["nbgrader", "autograde", course.assignment_id, "--force"], cwd=course.root, env=env,
                       check=True, capture_output=True)
        walls[NBGRADER] = time.perf_counter() - start

        n = len(submissions)
        print(f"\n{n} copies of a correct submission; {Grader(course).launcher.description}\n")
        print(f"{'configuration':32} {'wall s':>7} {'s/submission':>13} {'per minute':>11} {'median one':>11} {'vs nbgrader':>12}")
        for label, wall in walls.items():
            one = statistics.median(e.report.seconds + e.timings["record"] for e in rows[label]) if label in rows else float("nan")
            print(f"{label:32} {wall:7.1f} {wall / n:13.2f} {n / wall * 60:11.1f} {one:10.2f}s {walls[NBGRADER] / wall:11.2f}x")
        print()
        for kind in ("cold", "warm"):
            one, two, dask = (walls[f"{kind}, {w}"] for w in ("1 local worker", "2 local workers", "Dask, 2 local workers"))
            print(f"{kind}: 2 local workers vs 1: {one / two:.2f}x; Dask 2 workers vs 2 local workers: {two / dask:.2f}x; "
                  f"2 local workers vs plain nbgrader: {walls[NBGRADER] / two:.2f}x")
        steady = {count: timed_batch(course, submissions, LocalWorkers(count), templates_up=True)[0] for count in (1, 2)}
        print(f"warm, templates up before the batch (the steady state of a large class): 1 local worker {steady[1] / n:.2f} s per"
              f" submission, 2 local workers {steady[2] / n:.2f} s: {steady[1] / steady[2]:.2f}x")
        print_dask_costs(walls, rows, Grader(course), submissions)
        print(f"Dask's MALLOC_TRIM_THRESHOLD_ in this process after its clusters: {os.environ.get('MALLOC_TRIM_THRESHOLD_')}"
              " (its workers run with it; the floor and plain nbgrader run without it)")
        print(f"warm vs cold, 2 local workers: {walls['cold, 2 local workers'] / walls['warm, 2 local workers']:.2f}x")
        warm_kernels = sum(bool(e.timings.get("warm")) for label in rows if label.startswith("warm") for e in rows[label])
        print(f"warm batches: {warm_kernels} of {3 * n} submissions ran on a forked kernel")
        for label in (label for label in rows if label.startswith("warm")):
            starts = [e.timings["template_start"] for e in rows[label] if e.timings.get("template_start", 0) > 0.5]
            print(f"  {label}: {len(starts)} templates started within the batch, "
                  f"{sum(starts):.1f} s in all (part of the first submission of each worker)")
        scores = {e.report.score for label in rows for e in rows[label]}
        print(f"scores seen: {sorted(scores)} (all configurations must agree)")

        kinds = cell_kinds(course)
        cold, warm = breakdown(rows["cold, 1 local worker"], kinds), breakdown(rows["warm, 1 local worker"], kinds)
        print("\nWhere one submission's time goes (medians, 1 local worker, seconds):")
        print(f"  {'':52} {'cold':>6} {'warm':>6}")
        for label in cold:
            print(f"  {label:52} {cold[label]:6.2f} {warm[label]:6.2f}")
        plain = cells_in_a_plain_process(course, course.source_notebook)
        print(f"\nThe experiments at the grading budget ({course.grading_env}) in a plain single-threaded process, no kernel"
              " (the floor for the answer cells; medians of 3 runs, seconds):")
        for key in EXPERIMENTS:
            print(f"  {key:52} {plain[key]:6.2f}")
        print(f"  {'all three':52} {sum(plain[key] for key in EXPERIMENTS):6.2f}")
        # The graded copy's answers are not the master's code (another train_model, no tqdm): its own cells are its floor.
        graded = cells_in_a_plain_process(course, course.submitted_notebook("student000"))
        print("\nEvery code cell in that plain process: the master's (hidden tests included) and the graded copy's (its"
              " answers, the release's visible tests), against a warm kernel grading that copy (1 local worker; medians, seconds):")
        print(f"  {'cell':32} {'kind':>7} {'master':>7} {'copy':>7} {'warm':>7} {'warm/copy':>10}")
        warm_rows = rows["warm, 1 local worker"]
        for key in dict.fromkeys([*plain, *graded]):
            in_warm = statistics.median(e.timings.get(f"cell {key}", 0.0) for e in warm_rows)
            ratio = f"{in_warm / graded[key]:9.2f}x" if graded.get(key, 0) >= 0.01 else f"{'-':>10}"
            print(f"  {key[:32]:32} {kinds.get(key, '?'):>7} {plain.get(key, 0):7.3f} {graded.get(key, 0):7.3f} {in_warm:7.3f} {ratio}")
        for name, floor_cells in (("the master", plain), ("the graded copy", graded)):
            floor, warm_answers = sum(floor_cells.values()), warm["answer cells (the student's work)"]
            answers = sum(seconds for key, seconds in floor_cells.items() if kinds.get(key) == "answer")
            print(f"  all code cells of {name}: {floor:.2f} s; a warm submission end to end / that floor: {warm['end to end'] / floor:.2f}x,"
                  f" its cells: {warm['all cells'] / floor:.2f}x; answer cells: {warm_answers:.2f} s / {answers:.2f} s ="
                  f" {warm_answers / answers:.2f}x")
        print_ceilings(walls, rows, course, kinds, graded)
        if args.class_sizes:
            class_growth(course, correct, args.class_sizes)


if __name__ == "__main__":
    main()
