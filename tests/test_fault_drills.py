"""Fault drills on the real command: environment errors retried, one batch at a time, SIGKILL mid-batch, manual grades kept."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import answering_only, auto_points, copy_course, right_answers, share_master_run, write_corpus
from waiting import tree_cpu_seconds, wait_until
from dvwcourse.cells import raw_grade_id
from dvwcourse.nbgrader_api import open_gradebook
from dvwcourse.release import build_release
from dvwcourse.safe_grading import Grader
from dvwcourse.samples import sample_answers
from dvwcourse.kernel.scratch import remove_leftovers
from dvwcourse.settings import Course, load_course

pytestmark = pytest.mark.integration

SCORES = {"correct": 24, "blank": 0, "mistake_make_data": 22, "mistake_train_model": 21}


@pytest.fixture(scope="module")
def released_course(tmp_path_factory) -> Course:
    """A course with its release built and the master's own run cached, which every drill copies (the drills
    are about grading runs, not about building a course)."""
    course = copy_course(tmp_path_factory.mktemp("released"))
    build_release(course)
    share_master_run(course)
    return course


@pytest.fixture
def course_with(released_course, tmp_path):
    """A fresh copy of the released course with the corpus cases `names` in its incoming/ folder."""
    def make(names: list[str]) -> tuple[Course, Path]:
        shutil.copytree(released_course.root, tmp_path / "course")
        course = load_course(tmp_path / "course")
        incoming = course.root / "incoming"
        write_corpus(course, incoming, names)
        return course, incoming
    return make


def grade_command(course: Course, *args: str) -> list[str]:
    return [sys.executable, "-m", "dvwcourse", "--course", str(course.root), "grade", *args]


def grade(course: Course, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(grade_command(course, *args), capture_output=True, text=True, timeout=900, cwd=course.root, env=env)


def state(course: Course, student: str) -> dict:
    return json.loads((course.state_dir / "students" / f"{student}.json").read_text())


def row_status(stdout: str, student: str) -> str:
    """The status column of a student's row in the printed score table."""
    (line,) = [line for line in stdout.splitlines() if line.startswith(student + " ") and "/24" in line]
    return re.search(r"/24\s+(.*?)\s+[\d.]+$", line).group(1)


def pids_naming(text: str) -> list[int]:
    return [int(line.split(":", 1)[0]) for line in processes_naming(text)]


def processes_naming(text: str) -> list[str]:
    """Processes whose command line names `text` (kernels and their sandboxes name their scratch folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(f"{entry.name}: {cmdline[:200]}")
    return found


def assert_all_gone(scratch_root, why: str) -> None:
    """No process names the scratch folder (a kernel or its sandbox) within 10 s."""
    deadline = time.monotonic() + 10
    while processes_naming(str(scratch_root)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not processes_naming(str(scratch_root)), why


def test_a_plain_rerun_retries_a_submission_that_failed_for_an_environment_error(course_with, tmp_path):
    course, incoming = course_with([])
    (incoming / "ada.ipynb").write_bytes(answering_only(course, right_answers(course, "get_num_params", "make_data")))
    points = auto_points(course, "get_num_params", "make_data")
    broken = tmp_path / "broken-bin"
    broken.mkdir()
    (broken / "bwrap").write_text("#!/bin/sh\necho 'bwrap: creating new namespace failed: Operation not permitted' >&2\nexit 1\n")
    (broken / "bwrap").chmod(0o755)
    failed = grade(course, str(incoming), env={**os.environ, "PATH": f"{broken}:{os.environ['PATH']}"})
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert row_status(failed.stdout, "ada") == "error" and "refused: this worker cannot run the sandbox" in failed.stdout
    assert not state(course, "ada")["final"] and "retried" in state(course, "ada")["why"]

    fixed = grade(course, str(incoming))  # the environment is fixed; nothing is forced
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert row_status(fixed.stdout, "ada") == "graded"  # graded again, not "(unchanged)"
    assert state(course, "ada")["final"] and state(course, "ada")["report"]["score"] == points
    with open_gradebook(course) as gradebook:
        assert gradebook.find_submission(course.assignment_id, "ada").score == points


def test_state_damaged_by_a_crash_or_a_full_disk_is_regraded_and_named_never_a_traceback(course_with):
    course, incoming = course_with(["blank"])
    mistake = sample_answers(course, "mistakes")["make_data"]
    (incoming / "bob.ipynb").write_bytes(answering_only(course, {**right_answers(course, "get_num_params"), "make_data": mistake}))
    points = auto_points(course, "get_num_params")
    first = grade(course, str(incoming))
    assert first.returncode == 0, first.stdout + first.stderr
    (cache,) = course.state_dir.glob("master-checks-*.json")
    for path, keep in [(course.state_dir / "students" / "blank.json", 0.5), (course.state_dir / "students" / "bob.json", 0),
                       (cache, 0.3)]:
        raw = path.read_bytes()
        path.write_bytes(raw[:int(len(raw) * keep)])  # cut short, as a crash or a full disk leaves a file
    rerun = grade(course, str(incoming))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "Traceback" not in rerun.stdout + rerun.stderr
    notes = [line for line in rerun.stdout.splitlines() if line.startswith("Saved state: ")]
    assert len(notes) == 3 and all("damaged" in line for line in notes)
    assert any("master-checks" in line and "the master was run again" in line for line in notes)
    assert any("blank.json" in line and "blank is graded again" in line for line in notes)
    assert [row_status(rerun.stdout, s) for s in ("blank", "bob")] == ["graded", "graded"]  # not "(unchanged)"
    assert state(course, "bob")["report"]["score"] == points
    assert json.loads(cache.read_text())  # written back whole


def test_a_second_batch_on_the_same_course_stops_at_once_and_neither_corrupts_the_gradebook(course_with, tmp_path):
    names = ["correct", "blank", "mistake_make_data"]
    course, incoming = course_with(names)
    first = subprocess.Popen(grade_command(course, str(incoming), "--workers", "1"), cwd=course.root,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock = course.tools_dir / "batch.lock"  # one lock for the course: one gradebook
        deadline = time.monotonic() + 120
        while not (lock.is_file() and f"pid {first.pid} " in lock.read_text()):
            assert first.poll() is None and time.monotonic() < deadline, "the first batch never took the lock"
            time.sleep(0.2)
        second = grade(course, str(incoming), "--csv", "second.csv")
        assert first.poll() is None  # the second stopped while the first was still grading: it did not wait
        assert second.returncode == 2
        assert "already grading this course" in second.stderr and f"pid {first.pid} " in second.stderr
        assert not (course.root / "second.csv").exists()
        out, err = first.communicate(timeout=900)
    finally:
        first.kill()
        first.wait()
    assert first.returncode == 0, out + err
    with open_gradebook(course) as gradebook:
        assert {s: gradebook.find_submission(course.assignment_id, s).score for s in names} == {s: SCORES[s] for s in names}
    connection = sqlite3.connect(course.root / "gradebook.db")
    assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert connection.execute("SELECT count(*) FROM submitted_assignment").fetchone() == (len(names),)


def test_a_batch_killed_mid_way_then_rerun_grades_every_submission_exactly_once(course_with, tmp_path, short_tmp):
    course, incoming = course_with(list(SCORES))
    scratch_root = short_tmp  # the grader's temp folder: its kernels' command lines name it
    env = {**os.environ, "TMPDIR": str(scratch_root)}
    with (tmp_path / "first.out").open("w") as out:
        first = subprocess.Popen(grade_command(course, str(incoming), "--workers", "1"), cwd=course.root, env=env,
                                 stdout=out, stderr=subprocess.PIPE, text=True)
        try:
            while not first.stderr.readline().startswith("[1/4]"):  # one submission recorded ...
                assert first.poll() is None, "the batch ended before the drill"
            # ... and the next one's kernel past its start-up (importing torch alone costs about 2 s of CPU), into
            # its cells: the next submission, "correct", runs for several seconds.
            wait_until(lambda: sum(tree_cpu_seconds(pid) for pid in pids_naming(str(scratch_root))) > 3,
                       "the next submission's kernel to run its cells")
            assert processes_naming(str(scratch_root)), "the kernel ended before the drill"
            first.send_signal(signal.SIGKILL)
            first.wait()
        finally:
            first.kill()
            first.wait()
    assert_all_gone(scratch_root, "kernel or sandbox processes outlived the killed batch")

    recorded = {s for s in SCORES if (course.state_dir / "students" / f"{s}.json").is_file()}
    assert 1 <= len(recorded) < len(SCORES)
    rerun = grade(course, str(incoming), env=env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    for student in SCORES:  # each graded once: before the kill, or by the rerun
        assert row_status(rerun.stdout, student) == ("graded (unchanged)" if student in recorded else "graded")
    assert not processes_naming(str(scratch_root))

    with (course.root / "grading-results.csv").open() as handle:
        csv_scores = {row["student"]: float(row["score"]) for row in csv.DictReader(handle)}
    with open_gradebook(course) as gradebook:
        book_scores = {s: gradebook.find_submission(course.assignment_id, s).score for s in SCORES}
    feedback_scores = {}
    for student in SCORES:
        html = (course.root / "feedback" / student / course.assignment_id / f"{course.notebook}.html").read_text()
        feedback_scores[student] = float(re.search(r"Automatic score: ([\d.]+) / 24", html).group(1))
    assert csv_scores == book_scores == feedback_scores == SCORES


def test_manual_grades_survive_a_forced_regrade_and_a_changed_code_answer(course_with, tmp_path):
    course, incoming = course_with([])
    (incoming / "ada.ipynb").write_bytes(answering_only(course, right_answers(course, "make_data")))
    points = auto_points(course, "make_data")
    assert grade(course, str(incoming)).returncode == 0
    cell, score, comment = "discussion_zero_loss", 1.5, "Right idea; say why a wide enough net can reach zero loss."
    with open_gradebook(course) as gradebook:  # as formgrader saves a grader's work
        grade_row = gradebook.find_grade(cell, course.notebook, course.assignment_id, "ada")
        comment_row = gradebook.find_comment(cell, course.notebook, course.assignment_id, "ada")
        grade_row.manual_score = score
        comment_row.manual_comment = comment
        gradebook.db.commit()

    def manual_and_total():
        with open_gradebook(course) as gradebook:
            return (gradebook.find_grade(cell, course.notebook, course.assignment_id, "ada").manual_score,
                    gradebook.find_comment(cell, course.notebook, course.assignment_id, "ada").manual_comment,
                    gradebook.find_submission_notebook(course.notebook, course.assignment_id, "ada").score)

    total = manual_and_total()[2]
    assert total == points + score
    forced = grade(course, str(incoming), "--force")
    assert forced.returncode == 0 and row_status(forced.stdout, "ada") == "graded"
    assert manual_and_total() == (score, comment, total)

    notebook = json.loads((incoming / "ada.ipynb").read_text())
    (answer,) = [c for c in notebook["cells"] if raw_grade_id(c) == "make_data"]
    answer["source"] = sample_answers(course, "mistakes")["make_data"]
    (incoming / "ada.ipynb").write_text(json.dumps(notebook))
    changed = grade(course, str(incoming))
    assert changed.returncode == 0 and row_status(changed.stdout, "ada") == "graded"
    assert manual_and_total() == (score, comment, total - 2)  # test_make_data lost; the manual grade kept


UNSANDBOXED_KERNEL = """
import sys
from pathlib import Path
import nbformat
from dvwcourse.kernel.execution import run_notebook
from dvwcourse.kernel.sandbox import KernelLauncher
from dvwcourse.settings import load_course
nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time; time.sleep(600)", id="sleeps")])
run_notebook(nb, {}, KernelLauncher(load_course(Path(sys.argv[1])).sandbox, sandboxed=False), {})
"""


def test_an_unsandboxed_kernel_dies_with_its_killed_grader_too(course_copy, short_tmp):
    scratch_root = short_tmp
    grader = subprocess.Popen([sys.executable, "-c", UNSANDBOXED_KERNEL, str(course_copy.root)], env={**os.environ, "TMPDIR": str(scratch_root)})
    try:
        deadline = time.monotonic() + 120
        # Until setpriv has exec'd the kernel, its parent-death signal may not be set yet: wait for the kernel itself.
        while not [p for p in processes_naming(str(scratch_root)) if p.split(": ", 1)[1].startswith(sys.executable)
                   and "ipykernel_launcher" in p]:
            assert grader.poll() is None and time.monotonic() < deadline, "the kernel never started"
            time.sleep(0.1)
        grader.send_signal(signal.SIGKILL)
        grader.wait()
    finally:
        grader.kill()
        grader.wait()
    assert_all_gone(scratch_root, "the unsandboxed kernel outlived its grader")
    # What the next grader process on this host does with a killed grader's mounts: nothing is left.
    remove_leftovers(scratch_root)
    assert not [path for path in scratch_root.iterdir() if path.name.startswith("dvw-scratch-")]
