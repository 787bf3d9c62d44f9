"""Whose fault an outcome of grading is (whose_fault), on synthetic failures, and how the grader applies it: a failure on
what the kernel sent is the submission's (incomplete, final), anything else the grader's or the environment's (error,
retried). In memory: no kernel runs."""
from __future__ import annotations

import re
from dataclasses import replace
from types import SimpleNamespace

import dvwcourse.safe_grading as safe_grading
from dvwcourse.intake import Submission
from dvwcourse.kernel.sandbox import KernelLauncher
from dvwcourse.records import Evaluation, GradeReport
from dvwcourse.safe_grading import Grader
from dvwcourse.whose_fault import (REFUSED_UNSANDBOXED, SubmissionsDoing, failed_evaluation, lost_on_cluster,
                                   refused_unsandboxed, run_status)


def test_a_run_with_every_cell_run_is_graded_and_one_stopped_early_is_incomplete():
    assert (run_status(False), run_status(True)) == ("graded", "incomplete")


def test_a_failure_on_what_the_kernel_sent_is_incomplete_with_no_points_and_says_why():
    evaluation = failed_evaluation("ann", 24.0, SubmissionsDoing("a message of 2 MB, over the 1 MB limit"))
    assert evaluation == Evaluation(GradeReport("ann", "incomplete", 0.0, 24.0, notes=[
        "the notebook's kernel stopped the grading: a message of 2 MB, over the 1 MB limit"]), "")


def _raise_in(depth: int) -> None:
    if depth:
        _raise_in(depth - 1)
    raise RecursionError("maximum recursion depth exceeded")


def test_any_other_failure_is_the_graders_error_naming_its_type_with_the_three_outermost_frames():
    try:  # five frames deep: the note keeps the three nearest the grader's own call
        _raise_in(3)
    except RecursionError as error:
        evaluation = failed_evaluation("bo", 24.0, error)
    report = evaluation.report
    assert (report.student, report.status, report.score, report.max_score, report.cells, evaluation.digest) == ("bo", "error", 0.0, 24.0, [], "")
    assert len(report.notes) == 2
    assert report.notes[0] == "grading failed: RecursionError: maximum recursion depth exceeded"
    assert re.findall(r", in (\w+)\n", report.notes[1]) == [
        "test_any_other_failure_is_the_graders_error_naming_its_type_with_the_three_outermost_frames", "_raise_in", "_raise_in"]
    assert report.notes[1].endswith("RecursionError: maximum recursion depth exceeded\n")


def test_a_worker_that_cannot_sandbox_and_a_task_the_cluster_lost_are_errors_saying_so():
    assert refused_unsandboxed("ann", 24.0) == Evaluation(GradeReport("ann", "error", 0.0, 24.0, notes=[REFUSED_UNSANDBOXED]), "")
    lost = lost_on_cluster("bo", 12.0, RuntimeError("worker tcp://10.0.0.2:4321 died"))
    assert lost == Evaluation(GradeReport("bo", "error", 0.0, 12.0, notes=[
        "the Dask cluster could not grade it: RuntimeError: worker tcp://10.0.0.2:4321 died"]), "")


def test_the_grader_keeps_a_kernels_failure_as_incomplete_any_other_as_an_error_and_refuses_when_it_cannot_sandbox(
        course_copy, monkeypatch):
    course = replace(course_copy, sandbox=replace(course_copy.sandbox, required=False))
    grader = Grader(course, KernelLauncher(course.sandbox, sandboxed=False))
    submission = Submission("ann", None, problem="no notebook")  # its digest reads no file
    seen, outcomes = [], iter([Evaluation.failed("ann", "graded", 24.0), SubmissionsDoing("a reply that is not JSON"),
                               ValueError("a grader bug")])

    def evaluate(given: Submission) -> Evaluation:  # stands for running the kernel and judging its cells
        seen.append(given)
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(grader, "_evaluate", evaluate)
    # A fake clock: each evaluation's seconds are known exactly.
    monkeypatch.setattr(safe_grading, "time", SimpleNamespace(perf_counter=iter([10.0, 12.5, 20.0, 20.25, 30.0, 30.5, 40.0, 41.0]).__next__))
    graded, hostile, bug = [grader.evaluate(submission) for _ in range(3)]
    monkeypatch.setattr(grader, "course", course_copy)  # sandbox.required: true (the default)
    refused = grader.evaluate(submission)
    assert seen == [submission] * 3  # the refused one never reached a kernel
    assert grader.max_score == 24.0
    assert [(e.report.status, e.report.notes, e.report.seconds, e.report.sandboxed, e.report.kernels, e.digest)
            for e in (graded, hostile, refused)] == [
        ("graded", [], 2.5, False, 0, submission.digest()),
        ("incomplete", ["the notebook's kernel stopped the grading: a reply that is not JSON"], 0.25, False, 0, ""),
        ("error", [REFUSED_UNSANDBOXED], 1.0, False, 0, submission.digest()),
    ]
    assert (bug.report.student, bug.report.status, bug.report.max_score, bug.report.notes[0], bug.report.seconds) == (
        "ann", "error", 24.0, "grading failed: ValueError: a grader bug", 0.5)
    assert (hostile.report.student, hostile.report.max_score, refused.report.student, refused.report.max_score) == ("ann", 24.0, "ann", 24.0)
