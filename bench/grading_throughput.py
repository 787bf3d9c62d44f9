"""Grading throughput on N copies of a correct submission, every configuration measured in one run.

Prints seconds per submission and submissions per minute for 1 and 2 local workers, a local
2-worker Dask cluster, and plain `nbgrader autograde` over the same submissions, then where the time
of one submission goes. Run: .venv/bin/python bench/grading_throughput.py [--copies N]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from dvwcourse.course_copy import copy_course
from dvwcourse.inputs import find_submissions
from dvwcourse.release import build_release
from dvwcourse.safe_grading import Evaluation, Grader
from dvwcourse.samples import fill_answers, sample_answers, write_submission
from dvwcourse.settings import load_course
from dvwcourse.workers import DaskWorkers, LocalWorkers

REPO = Path(__file__).resolve().parents[1]


def timed_batch(grader: Grader, submissions, workers) -> tuple[float, list[Evaluation]]:
    evaluations: list[Evaluation] = []
    start = time.perf_counter()
    grader.grade_all(submissions, force=True, workers=workers, progress=evaluations.append)
    return time.perf_counter() - start, evaluations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dvw-bench-") as folder:
        course = copy_course(load_course(REPO), Path(folder))
        build_release(course)
        release = nbformat.read(course.release_notebook, as_version=4)
        correct = fill_answers(release, sample_answers(course, "alternative_solutions"), "bench")
        for index in range(args.copies):
            write_submission(course, f"student{index:03d}", correct)
        submissions = find_submissions(course)
        grader = Grader(course)
        start = time.perf_counter()
        grader.master_data()
        master_seconds = time.perf_counter() - start

        rows = {}
        walls = {}
        for label, workers in [("1 local worker", LocalWorkers(1)), ("2 local workers", LocalWorkers(2))]:
            walls[label], evaluations = timed_batch(grader, submissions, workers)
            rows[label] = evaluations
        from distributed import LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            label = "Dask, 2 local workers"
            walls[label], rows[label] = timed_batch(grader, submissions, DaskWorkers(cluster.scheduler_address))

        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        start = time.perf_counter()
        subprocess.run(["nbgrader", "autograde", course.assignment_id, "--force"], cwd=course.root, env=env,
                       check=True, capture_output=True)
        walls["plain nbgrader autograde"] = time.perf_counter() - start

        n = len(submissions)
        print(f"{n} copies of a correct submission; {grader.launcher.description}")
        print(f"master's expected values (once per master version): {master_seconds:.1f} s\n")
        print(f"{'configuration':28} {'wall s':>7} {'s/submission':>13} {'per minute':>11} {'median one':>11}")
        for label, wall in walls.items():
            one = statistics.median(e.report.seconds for e in rows[label]) if label in rows else float("nan")
            print(f"{label:28} {wall:7.1f} {wall / n:13.2f} {n / wall * 60:11.1f} {one:10.1f}s")
        base = walls["1 local worker"]
        print(f"\n2 local workers vs 1:              {base / walls['2 local workers']:.2f}x throughput")
        print(f"Dask 2 workers vs 1 local worker:  {base / walls['Dask, 2 local workers']:.2f}x")
        print(f"2 local workers vs plain nbgrader: {walls['plain nbgrader autograde'] / walls['2 local workers']:.2f}x")
        print(f"1 local worker vs plain nbgrader:  {walls['plain nbgrader autograde'] / base:.2f}x")
        scores = {e.report.score for label in rows for e in rows[label]}
        print(f"scores seen: {sorted(scores)} (all configurations must agree)")

        print("\nWhere one submission's time goes (medians, 1 local worker):")
        evaluations = rows["1 local worker"]
        parts = {
            "kernel start (sandbox + ipykernel)": [e.timings["kernel_start"] for e in evaluations],
            "first cell (imports: torch, numpy, matplotlib)": [e.timings["imports"] for e in evaluations],
            "all cells, imports included": [e.timings["cells"] for e in evaluations],
            "gradebook, graded notebook, feedback": [e.timings["record"] for e in evaluations],
            "end to end": [e.report.seconds + e.timings["record"] for e in evaluations],
        }
        for label, values in parts.items():
            print(f"  {label:48} {statistics.median(values):6.2f} s")


if __name__ == "__main__":
    main()
