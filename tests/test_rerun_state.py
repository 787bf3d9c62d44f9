"""Rerun state: only the submission's own results are final; errors are retried; fingerprint and boundary."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

import dvwcourse.safe_grading as safe_grading
from dvwcourse.intake import Submission
from dvwcourse.rerun_state import RerunState, state_entry
from dvwcourse.safe_grading import Grader
from dvwcourse.whose_fault import REFUSED_UNSANDBOXED
from dvwcourse.kernel.sandbox import KernelLauncher

REPORT = {"student": "ann", "status": "graded", "score": 24.0, "max_score": 24.0, "cells": []}


@pytest.mark.parametrize("status, final", [("graded", True), ("incomplete", True), ("unreadable", True), ("error", False)])
def test_only_results_the_submission_caused_are_final_and_the_entry_says_why(status, final):
    entry = state_entry("d1", "f1", {**REPORT, "status": status})
    assert entry["final"] is final
    assert entry["why"].startswith(status)
    assert ("retried" in entry["why"]) is not final


def test_a_final_entry_counts_only_for_the_same_content_and_grading(tmp_path):
    state = RerunState(tmp_path)
    state.save("ann", state_entry("d1", "f1", REPORT))
    assert state.final_entry("ann", "d1", "f1")["report"] == REPORT
    assert state.final_entry("ann", "d2", "f1") is None  # the submission changed
    assert state.final_entry("ann", "d1", "f2") is None  # the master, settings, sandbox or grading code changed
    assert state.final_entry("ann", None, "f1") is None  # unreadable now
    state.save("ann", state_entry("d1", "f1", {**REPORT, "status": "error"}))
    assert state.final_entry("ann", "d1", "f1") is None  # an error is retried


def test_a_torn_or_missing_entry_means_grade_again_and_saving_leaves_no_partial_file(tmp_path):
    state = RerunState(tmp_path)
    assert state.final_entry("bo", "d1", "f1") is None
    state.save("bo", state_entry("d1", "f1", REPORT))
    assert [p.name for p in state.folder.iterdir()] == ["bo.json"]
    state.path("bo").write_text('{"digest": "d1", "fin')  # as a batch killed mid-write would have left it before
    assert state.final_entry("bo", "d1", "f1") is None


@pytest.fixture
def unsandboxed(course_copy):
    return Grader(course_copy, KernelLauncher(course_copy.sandbox, sandboxed=False))


def test_the_fingerprint_covers_the_grading_code(course_copy, unsandboxed, monkeypatch):
    monkeypatch.setattr(safe_grading, "grading_code_version", lambda: "a fixed judge")
    after_a_fix = Grader(course_copy, unsandboxed.launcher)
    assert after_a_fix.fingerprint != unsandboxed.fingerprint


class UnreadableSubmission(Submission):
    def digest(self) -> str:
        raise OSError(5, "Input/output error", str(self.notebook))


def test_a_file_that_cannot_be_read_is_that_submissions_error_and_the_batch_goes_on(course_copy, monkeypatch, tmp_path):
    course = replace(course_copy, sandbox=replace(course_copy.sandbox, required=False))
    grader = Grader(course, KernelLauncher(course.sandbox, sandboxed=False))
    grader.use_master_data({})  # neither submission gets as far as a kernel
    monkeypatch.setattr(safe_grading, "store_scores", lambda *args: None)  # no gradebook in this copy
    garbage = tmp_path / "bo.ipynb"
    garbage.write_text("{ not json")
    reports = grader.grade_all([UnreadableSubmission("ann", tmp_path / "ann.ipynb"), Submission("bo", garbage)])
    assert [(r.student, r.status) for r in reports] == [("ann", "error"), ("bo", "unreadable")]
    assert "Input/output error" in reports[0].notes[0]
    entries = {s: json.loads(grader.state.path(s).read_text()) for s in ("ann", "bo")}
    assert (entries["ann"]["final"], entries["bo"]["final"]) == (False, True)


def test_a_worker_that_cannot_sandbox_refuses_when_the_course_requires_it(course_copy, unsandboxed, monkeypatch, tmp_path):
    assert course_copy.sandbox.required  # the default
    notebook = tmp_path / "ann.ipynb"
    notebook.write_bytes(course_copy.release_notebook.read_bytes())
    monkeypatch.setattr(safe_grading, "store_scores", lambda *args: pytest.fail("a refused submission must not reach the gradebook"))
    evaluation = unsandboxed.evaluate(Submission("ann", notebook))
    assert (evaluation.report.status, evaluation.report.score, evaluation.report.sandboxed) == ("error", 0.0, False)
    assert evaluation.report.notes == [REFUSED_UNSANDBOXED] and evaluation.notebook is None  # no kernel ran
    unsandboxed.record(evaluation)
    assert not unsandboxed.state.load("ann")["final"]  # retried once the worker can sandbox


def damaged_versions(text: str) -> list[bytes]:
    """What a crash or a full disk can leave of a saved file: every cut of it, and other damage."""
    raw = text.encode()
    versions = [raw[:n] for n in range(len(raw))] + [b"", b"\0" * 64, b"\xff\xfe garbage", b"[" * 100_000, b"[]", b"null",
                                                     raw.replace(b'"final": true', b'"final": "yes"'), raw.replace(b'"report": {', b'"report": {"x": 1, ')]
    return [version for version in versions if version != raw]




def test_every_damaged_version_of_a_saved_entry_means_grade_again_with_a_note_never_an_exception(tmp_path):
    notes: list[str] = []
    state = RerunState(tmp_path, notes)
    state.save("bo", state_entry("d1", "f1", {**REPORT, "student": "bo"}))
    saved = state.path("bo").read_text()
    assert state.final_entry("bo", "d1", "f1") is not None and notes == []
    for damaged in damaged_versions(saved):
        state.path("bo").write_bytes(damaged)
        notes.clear()
        assert state.final_entry("bo", "d1", "f1") is None, damaged[:80]
        assert len(notes) == 1 and "bo.json: damaged" in notes[0] and "graded again" in notes[0]


def test_a_damaged_cache_of_the_masters_values_is_recomputed_with_a_note(unsandboxed, monkeypatch):
    grader = unsandboxed
    counts = {"checks": {grade_id: 3 for grade_id in grader.tests}, "call_seconds": {"get_num_params": 0.01}}
    cache = grader.state_dir / f"master-checks-{grader.fingerprint}.json"
    cache.parent.mkdir(parents=True, exist_ok=True)
    runs = []
    monkeypatch.setattr(grader, "_run_master", lambda: runs.append(1) or counts)
    for damaged in damaged_versions(json.dumps(counts)) + [json.dumps({**counts, "checks": {**counts["checks"], "test_unknown": 1}}).encode()]:
        cache.write_bytes(damaged)
        grader._master_data, runs[:], grader.state_notes[:] = None, [], []
        assert grader.master_data() == counts and runs == [1], damaged[:80]
        assert len(grader.state_notes) == 1 and "damaged" in grader.state_notes[0] and "master was run again" in grader.state_notes[0]
        assert json.loads(cache.read_text()) == counts  # written back whole
    grader._master_data, runs[:], grader.state_notes[:] = None, [], []
    assert grader.master_data() == counts and runs == [] and grader.state_notes == []  # a sound cache is used
