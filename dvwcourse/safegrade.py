"""Grade submissions safely: sandboxed kernels, values judged in this process, nothing lost.

For each submission: read its answer cells, put them into the master's notebook, run that in a
sandboxed kernel where test cells only record values, judge the values against the master's own
(recorded once per master version, the same way), then store scores, the graded notebook and
feedback. A rerun skips submissions whose content and grading are unchanged and whose result was
the submission's own doing (see rerun_state).
"""
from __future__ import annotations

import copy
import hashlib
import json
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import nbformat

from .assemble import Answers, answer_ids, assemble, read_answers
from .checkspec import CheckSite, master_test_cells, load_compare
from .code_version import grading_code_version
from .execution import CheckRecord, run_notebook
from .feedback import write_feedback
from .gradebook_io import store_scores
from .inputs import Submission
from .judge import CellVerdict, CheckVerdict, judge_cell
from .rerun_state import RerunState, state_entry
from .sandbox import KernelLauncher, make_launcher
from .settings import Course, CourseError
from .uid_lease import leased_uid

if TYPE_CHECKING:
    from .workers import Workers


REFUSED_UNSANDBOXED = ("refused: this worker cannot run the sandbox (bubblewrap missing or not allowed here) and course.yml "
                       "says sandbox.required: true; install bubblewrap there, or set sandbox.required: false to grade with limits only")


@dataclass
class GradeReport:
    student: str
    status: str  # graded | incomplete (some cells could not run) | unreadable | error
    score: float
    max_score: float
    cells: list[CellVerdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    seconds: float = 0.0
    sandboxed: bool = False  # whether its kernel ran in the sandbox (on whichever worker graded it)
    skipped: bool = False  # unchanged since the last grading: its earlier result

    @property
    def graded(self) -> bool:
        return self.status in ("graded", "incomplete")


@dataclass
class Evaluation:
    """A submission judged but not yet recorded: what a worker hands back to the one writer."""

    report: GradeReport
    digest: str
    notebook: nbformat.NotebookNode | None = None  # the graded notebook, outputs included
    written: dict[str, bool] = field(default_factory=dict)  # written answers, and whether answered
    timings: dict[str, float] = field(default_factory=dict)


class Grader:
    """Grades submissions of one course; the master's expected values are computed once."""

    def __init__(self, course: Course, launcher: KernelLauncher | None = None) -> None:
        self.course = course
        self.launcher = launcher or make_launcher(course.sandbox)
        self.tests = master_test_cells(course)
        self.compare = load_compare(course)
        self.master = nbformat.read(course.source_notebook, as_version=4)
        self.template = nbformat.read(course.release_notebook, as_version=4)
        self.answer_ids = answer_ids(self.template)
        self.kernel_code = {grade_id: test.kernel_code for grade_id, test in self.tests.items()}
        self.fingerprint = self._fingerprint()
        self.state = RerunState(self.state_dir)
        self._expected: dict[str, list[CheckRecord]] | None = None

    def _fingerprint(self) -> str:
        """Changes whenever the master, the settings, the isolation or the grading code change: then everything is regraded."""
        sha = hashlib.sha256()
        for path in [self.course.source_notebook, self.course.release_notebook, self.course.root / "course.yml"]:
            sha.update(path.read_bytes())
        sha.update(str(self.launcher.isolated).encode())
        sha.update(grading_code_version().encode())
        return sha.hexdigest()[:16]

    @property
    def state_dir(self) -> Path:
        return self.course.state_dir

    @property
    def max_score(self) -> float:
        return sum(cell.points for cell in self.tests.values())

    def kernel_env(self) -> dict[str, str]:
        # NBGRADER_EXECUTION tells notebook code it is being graded (the demo then skips its widget).
        return {**self.course.grading_env, "NBGRADER_EXECUTION": "autograde"}

    # -- the master's values ------------------------------------------------------------------
    def expected(self) -> dict[str, list[CheckRecord]]:
        if self._expected is None:
            cache = self.state_dir / f"master-values-{self.fingerprint}.json"
            if cache.is_file():
                raw = json.loads(cache.read_text())
                self._expected = {cell: [CheckRecord(**r) for r in records] for cell, records in raw.items()}
            else:
                self._expected = self._run_master()
                cache.parent.mkdir(parents=True, exist_ok=True)
                cache.write_text(json.dumps({c: [asdict(r) for r in rs] for c, rs in self._expected.items()}))
        return self._expected

    def _run_master(self) -> dict[str, list[CheckRecord]]:
        nb = copy.deepcopy(self.master)
        result = run_notebook(nb, self.kernel_code, self.launcher, self.kernel_env())
        problems = list(result.notes) + [f"{cell}: {error}" for cell, error in result.errors.items()]
        for grade_id, test in self.tests.items():
            records = result.records.get(grade_id, [])
            names = [r.name for r in records]
            if not records or len(set(names)) != len(names):
                problems.append(f"{grade_id}: the master records {len(records)} checks, {len(set(names))} distinct names")
            verdict = judge_cell(test, records, records, self.compare)
            problems += [f"{grade_id}: {c.name}: {c.message}" for c in verdict.checks if not c.passed]
        if problems:
            raise CourseError(f"{self.course.source_notebook}: the master fails its own checks:\n" + "\n".join(problems))
        return {grade_id: result.records[grade_id] for grade_id in self.tests}

    def master_data(self) -> Any:
        """What this Grader precomputed of the master, JSON-able: hand it to a worker's `use_master_data`."""
        return {cell: [asdict(r) for r in records] for cell, records in self.expected().items()}

    def use_master_data(self, data: Any) -> None:
        """Judge with another Grader's `master_data()` instead of running the master here."""
        self._expected = {cell: [CheckRecord(**r) for r in records] for cell, records in data.items()}

    # -- one submission -------------------------------------------------------------------------
    def evaluate(self, submission: Submission) -> Evaluation:
        """Run and judge one submission, writing nothing. Never raises: failures go in the report."""
        start = time.perf_counter()
        try:
            digest = submission.digest()  # inside the boundary: a file that cannot be read must not stop the batch
            evaluation = self._evaluate_in_sandbox(submission)
            evaluation.digest = digest
        except Exception as error:  # a bug or an environment problem: record it, keep the batch going
            report = GradeReport(submission.student, "error", 0.0, self.max_score,
                                 notes=[f"grading failed: {type(error).__name__}: {error}", traceback.format_exc(limit=3)])
            evaluation = Evaluation(report, "")
        evaluation.report.seconds = time.perf_counter() - start
        evaluation.report.sandboxed = self.launcher.isolated
        return evaluation

    def _evaluate_in_sandbox(self, submission: Submission) -> Evaluation:
        """Each kernel under a uid no other kernel on this host has; unsandboxed only if the course allows it."""
        if not self.launcher.isolated:
            if self.course.sandbox.required:
                return Evaluation(GradeReport(submission.student, "error", 0.0, self.max_score, notes=[REFUSED_UNSANDBOXED]), "")
            return self._evaluate(submission, self.launcher)
        with leased_uid() as uid:
            return self._evaluate(submission, replace(self.launcher, uid=uid))

    def _evaluate(self, submission: Submission, launcher: KernelLauncher) -> Evaluation:
        expected = self.expected()
        answers = read_answers(submission.notebook, self.answer_ids)
        if answers.unreadable:
            return Evaluation(GradeReport(submission.student, "unreadable", 0.0, self.max_score, notes=[answers.unreadable]), "")
        nb = assemble(self.master, self.template, answers)
        result = run_notebook(nb, self.kernel_code, launcher, self.kernel_env(), submission.files)
        cells = [
            judge_cell(test, expected[grade_id], result.records.get(grade_id, []), self.compare, result.errors.get(grade_id, ""))
            for grade_id, test in self.tests.items()
        ]
        report = GradeReport(
            submission.student,
            "incomplete" if result.kernel_died or result.unrun else "graded",
            sum(c.points for c in cells), self.max_score, cells,
            notes=[*answers.notes, *result.notes], flags=[f"{c.grade_id}: {flag}" for c in cells for flag in c.flags],
        )
        return Evaluation(report, "", nb, self._written_answers(answers), result.timings)

    def record(self, evaluation: Evaluation) -> None:
        """Store one evaluation: graded notebook, gradebook scores, feedback and rerun state."""
        start = time.perf_counter()
        report = evaluation.report
        if evaluation.notebook is not None:
            self._write_graded_notebook(report.student, evaluation.notebook)
        if report.status != "error":
            store_scores(self.course, report.student, report.cells, evaluation.written)
        write_feedback(self.course, report)
        self.state.save(report.student, state_entry(evaluation.digest, self.fingerprint, asdict(report)))  # last: a crash before it regrades
        evaluation.timings["record"] = time.perf_counter() - start

    def grade(self, submission: Submission) -> GradeReport:
        """Evaluate and record one submission."""
        evaluation = self.evaluate(submission)
        self.record(evaluation)
        return evaluation.report

    def _written_answers(self, answers: Answers) -> dict[str, bool]:
        """Manually graded cells, and whether the student wrote anything beyond the stub."""
        written = {}
        for cell in self.template.cells:
            nbg = cell.metadata.get("nbgrader", {})
            if nbg.get("grade") and nbg.get("solution"):
                text = answers.cells.get(cell.id, cell.source)
                written[cell.id] = text.strip() != cell.source.strip()
        return written

    def _write_graded_notebook(self, student: str, nb: nbformat.NotebookNode) -> None:
        path = self.course.autograded_notebook(student)
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)

    # -- many submissions -----------------------------------------------------------------------
    def grade_all(self, submissions: list[Submission], force: bool = False, workers: Workers | None = None,
                  progress: Callable[[Evaluation], None] | None = None) -> list[GradeReport]:
        """Grade every submission (unchanged ones with a final result skipped unless `force`), in the given order.

        `workers` evaluate (default: in this process, one at a time); this process alone records.
        """
        reports: dict[str, GradeReport] = {}
        todo = []
        for submission in submissions:
            previous = None if force else self.state.final_entry(submission.student, _digest_or_none(submission), self.fingerprint)
            if previous:
                reports[submission.student] = report_from_dict(previous["report"])
                reports[submission.student].skipped = True
            else:
                todo.append(submission)
        if todo:
            self.expected()  # once, before any worker needs it
        from .workers import SerialWorkers  # workers build on this module

        for evaluation in (workers or SerialWorkers()).evaluate(self, todo):
            self.record(evaluation)
            reports[evaluation.report.student] = evaluation.report
            if progress:
                progress(evaluation)
        return [reports[s.student] for s in submissions]


def _digest_or_none(submission: Submission) -> str | None:
    """None when the files cannot be read now: then the submission is graded, and its evaluation says why."""
    try:
        return submission.digest()
    except OSError:
        return None


def report_from_dict(data: dict[str, Any]) -> GradeReport:
    cells = [
        CellVerdict(**{**cell, "checks": [CheckVerdict(**{**check, "site": CheckSite(**check["site"])}) for check in cell["checks"]]})
        for cell in data["cells"]
    ]
    return GradeReport(**{**data, "cells": cells})
