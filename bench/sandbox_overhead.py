"""Time to grade one correct submission with and without the sandbox (medians of 3, one run).

Run: .venv/bin/python bench/sandbox_overhead.py
"""
from __future__ import annotations

import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

import nbformat

from dvwcourse.course_copy import copy_course
from dvwcourse.intake import Submission
from dvwcourse.release import build_release
from dvwcourse.safe_grading import Grader
from dvwcourse.samples import fill_answers, sample_answers
from dvwcourse.kernel.sandbox import KernelLauncher
from dvwcourse.settings import load_course

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dvw-bench-") as folder:
        course = copy_course(load_course(REPO), Path(folder))
        build_release(course)
        release = nbformat.read(course.release_notebook, as_version=4)
        path = course.submitted_notebook("student")
        path.parent.mkdir(parents=True)
        nbformat.write(fill_answers(release, sample_answers(course, "alternative_solutions"), "bench"), path)
        submission = Submission("student", path)
        sandboxed = Grader(course)
        unrequired = replace(course, sandbox=replace(course.sandbox, required=False))  # else an unsandboxed grader refuses
        plain = Grader(unrequired, KernelLauncher(unrequired.sandbox, sandboxed=False))
        times: dict[str, list[float]] = {"sandboxed": [], "unsandboxed": []}
        for grader in (sandboxed, plain):
            grader.master_data()
        for _ in range(3):  # interleaved, so machine noise hits both alike
            for label, grader in (("sandboxed", sandboxed), ("unsandboxed", plain)):
                report = grader.grade(submission)
                assert report.score == report.max_score, report.notes
                times[label].append(report.seconds)
        for label, values in times.items():
            print(f"{label:12} median {statistics.median(values):.2f} s  (runs: {', '.join(f'{v:.2f}' for v in values)})")
        print(f"sandbox overhead: {statistics.median(times['sandboxed']) / statistics.median(times['unsandboxed']):.2f}x")


if __name__ == "__main__":
    main()
