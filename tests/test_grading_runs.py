"""Batches: reruns skip what did not change, exit status names failures, inputs in every layout, no sandbox."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from dataclasses import replace

import nbformat
import pytest

from conftest import copy_course, share_master_run, write_corpus
from dvwcourse.intake import find_submissions
from dvwcourse.release import build_release
from dvwcourse.results import isolation_statement
from dvwcourse.safe_grading import Grader
from dvwcourse.kernel.sandbox import KernelLauncher
from dvwcourse.settings import load_course

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def small_course(tmp_path_factory):
    """A course copy with two submissions in a folder: correct and blank."""
    root = tmp_path_factory.mktemp("runs")
    course = copy_course(root)
    build_release(course)
    incoming = root / "incoming"
    write_corpus(course, incoming, ["correct", "blank"])
    share_master_run(course)
    return course, incoming


def test_rerun_skips_unchanged_regrades_changed_and_regrades_all_after_the_master_changes(small_course):
    course, incoming = small_course
    first = {r.student: r for r in Grader(course).grade_all(find_submissions(course, incoming))}
    assert (first["correct"].score, first["blank"].score) == (24, 0) and not any(r.skipped for r in first.values())

    again = {r.student: r for r in Grader(course).grade_all(find_submissions(course, incoming))}
    assert all(r.skipped for r in again.values()) and again["correct"].score == 24

    blank = json.loads((incoming / "blank.ipynb").read_text())
    blank["cells"][0]["source"] = "changed"
    (incoming / "blank.ipynb").write_text(json.dumps(blank))
    changed = {r.student: r for r in Grader(course).grade_all(find_submissions(course, incoming))}
    assert changed["correct"].skipped and not changed["blank"].skipped

    master = json.loads(course.source_notebook.read_text())
    master["metadata"]["edited"] = "the master's tests changed"  # any change to the master regrades everyone
    course.source_notebook.write_text(json.dumps(master, indent=1))
    regraded = {r.student: r for r in Grader(load_course(course.root)).grade_all(find_submissions(course, incoming))}
    assert not any(r.skipped for r in regraded.values()) and regraded["correct"].score == 24


def test_exit_status_names_what_could_not_be_graded(small_course):
    course, incoming = small_course
    (incoming / "broken.ipynb").write_text("{ not json")
    try:
        run = subprocess.run([sys.executable, "-m", "dvwcourse", "--course", str(course.root), "grade", str(incoming)],
                             capture_output=True, text=True, timeout=600, cwd=course.root)
    finally:
        (incoming / "broken.ipynb").unlink()
    assert run.returncode == 1, run.stdout + run.stderr
    assert "broken" in run.stderr and "invalid JSON" in run.stdout
    assert "correct" in run.stdout and "24/24" in run.stdout


def test_grading_without_bubblewrap_works_when_the_course_allows_it_and_says_so(small_course):
    course, incoming = small_course
    allowed = replace(course, sandbox=replace(course.sandbox, required=False))
    grader = Grader(allowed, KernelLauncher(allowed.sandbox, sandboxed=False))
    (submission,) = find_submissions(course, incoming / "correct.ipynb")
    evaluation = grader.evaluate(submission)  # not recorded: the other tests here keep their sandboxed results
    assert evaluation.report.score == 24 and evaluation.report.sandboxed is False
    assert isolation_statement([evaluation.report]).endswith(": correct")


def test_inputs_in_every_layout(small_course, tmp_path):
    course, incoming = small_course
    assert [s.student for s in find_submissions(course, incoming)] == ["blank", "correct"]
    assert [s.student for s in find_submissions(course, incoming / "correct.ipynb")] == ["correct"]
    submitted = tmp_path / "submitted" / "dana" / course.assignment_id
    submitted.mkdir(parents=True)
    (submitted / f"{course.notebook}.ipynb").write_bytes((incoming / "correct.ipynb").read_bytes())
    (submitted / "notes.txt").write_text("my own data file")
    (found,) = find_submissions(course, tmp_path / "submitted")
    assert found.student == "dana" and [p.name for p in found.files] == ["notes.txt"]
    archive = tmp_path / "lms.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("depth_vs_width_alice_attempt_2026-11-20-10-00-00_depth_vs_width.ipynb", "{}")
        bundle.writestr("depth_vs_width_bob_attempt_2026-11-20-10-00-00_depth_vs_width.ipynb", "{}")
        bundle.writestr("depth_vs_width_bob_attempt_2026-11-21-09-00-00_depth_vs_width.ipynb",
                        nbformat.writes(nbformat.v4.new_notebook(metadata={"late": 1})))
    found = {s.student: s for s in find_submissions(course, archive)}
    assert sorted(found) == ["alice", "bob"]
    assert "late" in found["bob"].notebook.read_text()  # the latest attempt counts
    assert found["alice"].notebook is None and found["alice"].problem == "depth_vs_width.ipynb is not a notebook: it has no list of cells"
