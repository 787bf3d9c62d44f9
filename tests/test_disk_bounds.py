"""Disk space: a kernel's writes are bounded in both modes, and the grader stops recording before its own disk is full.

Runs as root (it mounts tmpfs file systems inside the test's temporary folder and unmounts them after).
"""
from __future__ import annotations

import csv
import errno
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest

from conftest import answering_only, auto_points, copy_course, require, right_answers
from corpus import FIRST
from dvwcourse import cli
from dvwcourse.atomic import write_text_atomic
from dvwcourse.batch_stop import LowDiskSpace
from dvwcourse.diskspace import ensure_free_space
from dvwcourse.intake import find_submissions
from dvwcourse.nbgrader_api import open_gradebook
from dvwcourse.kernel.out_of_space import out_of_space_notes
from dvwcourse.release import build_release
from dvwcourse.safe_grading import PENDING, Grader
from dvwcourse.kernel.confine import PSEUDO_FILESYSTEMS, TEMP_FOLDERS
from dvwcourse.kernel.sandbox import SANDBOX_UID, KernelLauncher, drop_to_uid, make_launcher
from dvwcourse.kernel.scratch import can_mount, exchange_folder, private_tmp, remove_leftovers, scratch_folder
from dvwcourse.settings import SandboxSettings, load_course

MB = 1_000_000
PAGE = 4096  # tmpfs rounds its size up to a page
WORK_FOLDER_BYTES = 40 * MB
TMP_BYTES = 30 * MB
MODES = ["sandboxed", "limits_only"]


@pytest.fixture(autouse=True)
def needs_root():
    require("root", can_mount(), "these tests mount tmpfs file systems: run them as root")


@pytest.fixture
def small_disk(tmp_path):
    """A 48 MB tmpfs inside the test's folder: a disk that fills up quickly."""
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "test-disk", str(disk)], check=True)
    yield disk
    if subprocess.run(["umount", str(disk)]).returncode:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)


def fill_disk(disk: Path, leave_free: int) -> Path:
    """Take all but `leave_free` bytes of the disk's free space."""
    filler = disk / "filler"
    size = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize - leave_free
    with filler.open("wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, size)
    return filler


def course_in(folder: Path, mode: str, **settings: int):
    """A course copy in `folder` with small disk bounds, sandboxed or on resource limits only."""
    folder.mkdir(exist_ok=True)
    course = copy_course(folder)
    path = course.root / "course.yml"
    text = path.read_text()
    if mode != "sandboxed":  # resource limits only, which the course must allow
        text = text.replace("enabled: true", "enabled: false").replace("required: true", "required: false")
    for key, value in settings.items():
        text = "\n".join(f"{line.split(':')[0]}: {value}" if line.strip().startswith(f"{key}:") else line
                         for line in text.splitlines()) + "\n"
    path.write_text(text)
    course = load_course(course.root)
    assert make_launcher(course.sandbox).sandboxed == (mode == "sandboxed")
    return course


def write_submissions(course, folder: Path, answers_by_student: dict[str, dict[str, str]]) -> Path:
    """Each student answers only the cells given (no training to pay for: these tests are about the disk)."""
    folder.mkdir()
    for student, answers in answers_by_student.items():
        (folder / f"{student}.ipynb").write_bytes(answering_only(course, answers))
    return folder


# -- without kernels ------------------------------------------------------------------------------

def small_bounds(course, work_folder_bytes: int, tmp_bytes: int) -> SandboxSettings:
    return replace(course.sandbox, work_folder_bytes=work_folder_bytes, scratch_tmpfs_bytes=tmp_bytes)


def test_scratch_folder_and_private_tmp_are_bounded_tmpfs_gone_afterwards_even_after_an_error(course):
    with pytest.raises(RuntimeError), scratch_folder(small_bounds(course, 5 * MB, 3 * MB), bounded=True) as scratch:
        for folder, size in [(scratch, 5 * MB), (private_tmp(scratch), 3 * MB)]:
            stats = os.statvfs(folder)
            assert abs(stats.f_blocks * stats.f_frsize - size) < PAGE  # rounded up to a page
            assert stats.f_files <= max(1024, size // PAGE)  # files bounded too
            with pytest.raises(OSError) as refused, (folder / "big").open("wb") as handle:
                handle.write(b"x" * (size + MB))
            assert refused.value.errno == errno.ENOSPC
        raise RuntimeError("the run failed")
    assert not scratch.exists() and not private_tmp(scratch).exists()
    assert str(scratch) not in Path("/proc/self/mountinfo").read_text()


@pytest.mark.integration  # a grader process killed with its tmpfs mounted: seconds, not a unit test
def test_mounts_of_a_grader_killed_hard_are_removed_by_the_next(course, tmp_path):
    hold = ("import sys, time\nfrom dataclasses import replace\nfrom dvwcourse.kernel.scratch import scratch_folder\n"
            "from pathlib import Path\nfrom dvwcourse.settings import load_course\nsettings = replace(load_course(Path(sys.argv[1])).sandbox, work_folder_bytes=10**6)\n"
            "with scratch_folder(settings, bounded=True) as scratch:\n    print(scratch, flush=True)\n    time.sleep(600)")
    grader = subprocess.Popen([sys.executable, "-c", hold, str(course.root)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "TMPDIR": str(tmp_path)})
    scratch = Path(grader.stdout.readline().strip())
    grader.kill()  # SIGKILL: no cleanup runs
    grader.wait()
    try:
        assert os.path.ismount(scratch) and os.path.ismount(private_tmp(scratch))
        ours, foreign = tmp_path / f"dvw-scratch-{os.getpid()}-running", tmp_path / "dvw-scratch-nopid"
        ours.mkdir()
        foreign.mkdir()
        assert remove_leftovers(tmp_path) == [scratch]
        assert not scratch.exists() and not private_tmp(scratch).exists()
        assert ours.exists() and foreign.exists()  # a running grader's folder, and one not named by a grader
    finally:  # whatever happened, nothing stays mounted
        for path in (private_tmp(scratch), scratch):
            if os.path.ismount(path):
                subprocess.run(["umount", "--lazy", str(path)], check=True)


def test_each_mode_says_what_is_bounded(course):
    settings = replace(course.sandbox, work_folder_bytes=40 * MB, scratch_tmpfs_bytes=30 * MB)
    sandboxed, fallback = KernelLauncher(settings, sandboxed=True), KernelLauncher(settings, sandboxed=False)
    assert "working folder and HOME 40 MB, /tmp 30 MB, everything else read-only" in sandboxed.description
    assert "NOT sandboxed" in fallback.description and "/dev/shm" in fallback.description and "30 MB" in fallback.description
    assert "NOT size-bounded" in KernelLauncher(settings, sandboxed=False, bounded=False).description
    command = fallback.command(["kernel"], Path("/tmp/scratch"))
    assert "dvwcourse.kernel.confine" in command and "--reuid=65534" in command and command[-1] == "kernel"


def test_without_bubblewrap_only_the_scratch_folder_and_one_bounded_tmp_are_writable(course, tmp_path):
    kept = tmp_path / "python"  # below /tmp, like a Python that the kernel's own /tmp would hide
    kept.mkdir()
    (kept / "marker").write_text("still here")
    with scratch_folder(small_bounds(course, 5 * MB, 3 * MB), bounded=True) as scratch:
        script = (f"cat {kept}/marker; echo; touch {kept}/x 2>/dev/null || echo kept-read-only; touch {scratch}/x && echo scratch-writable; "
                  "head -c 4000000 /dev/zero > /tmp/fill 2>/dev/null || echo tmp-full; id -u; cat /proc/self/mountinfo")
        run = subprocess.run([sys.executable, "-m", "dvwcourse.kernel.confine", "--scratch", str(scratch), "--tmp", str(private_tmp(scratch)),
                              "--keep", str(kept), "--", *drop_to_uid(SANDBOX_UID), "sh", "-c", script],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        assert (private_tmp(scratch) / "fill").stat().st_size <= 3 * MB + PAGE  # the kernel's /tmp is the grader's bounded one
    lines = run.stdout.splitlines()
    assert lines[:5] == ["still here", "kept-read-only", "scratch-writable", "tmp-full", str(SANDBOX_UID)]
    writable = {point for point, options, fstype in mountinfo(lines[5:]) if "rw" in options.split(",") and fstype not in PSEUDO_FILESYSTEMS}
    # (the grader's mount of the kernel's /tmp is listed too, hidden below the kernel's /tmp)
    temp_folders = [folder for folder in TEMP_FOLDERS if os.path.isdir(folder)]
    assert writable == {str(scratch), str(private_tmp(scratch)), str(exchange_folder(scratch)), *temp_folders}
    assert not (kept / "x").exists()


def mountinfo(lines: list[str]) -> list[tuple[str, str, str]]:
    """(mount point, per-mount options, file system type) of /proc/self/mountinfo lines."""
    return [(fields[4], fields[5], fields[fields.index("-") + 1]) for fields in map(str.split, lines)]


def test_older_course_files_without_the_new_keys_still_load(course_copy):
    path = course_copy.root / "course.yml"
    path.write_text("\n".join(line for line in path.read_text().splitlines()
                              if not line.strip().startswith(("work_folder_bytes:", "min_free_disk_bytes:"))) + "\n")
    course = load_course(course_copy.root)
    assert course.sandbox.work_folder_bytes > 0 and course.min_free_disk_bytes > 0


def test_a_write_that_runs_out_of_space_leaves_the_previous_file_and_no_temporary(small_disk):
    target = write_text_atomic(small_disk / "feedback.html", "previous")
    fill_disk(small_disk, leave_free=1 * MB)
    with pytest.raises(OSError) as refused:
        write_text_atomic(target, "x" * 2 * MB)
    assert refused.value.errno == errno.ENOSPC
    assert target.read_text() == "previous"
    assert sorted(p.name for p in small_disk.iterdir()) == ["feedback.html", "filler"]


def test_the_note_names_the_bound(course):
    settings = small_bounds(course, 4 * MB, 3 * MB)
    launcher = KernelLauncher(settings, sandboxed=True, bounded=True)
    refused = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("", outputs=[
        nbformat.v4.new_output("error", ename="OSError", evalue="[Errno 28] No space left on device", traceback=[])])])
    with scratch_folder(settings, bounded=True) as scratch:
        assert out_of_space_notes(scratch, nbformat.v4.new_notebook(), launcher) == []
        (note,) = out_of_space_notes(scratch, refused, launcher)
        assert "wrote more than its disk space allows" in note and "4 MB" in note
        fill_disk(private_tmp(scratch), leave_free=0)
        (note,) = out_of_space_notes(scratch, nbformat.v4.new_notebook(), launcher)
        assert "wrote more than 3 MB to /tmp;" in note
        fill_disk(scratch, leave_free=0)
        (note,) = out_of_space_notes(scratch, nbformat.v4.new_notebook(), launcher)
    assert "wrote more than 4 MB to its working folder and more than 3 MB to /tmp" in note


@pytest.mark.integration  # a whole `grade` run on a filled file system: seconds, not a unit test
def test_too_little_space_before_a_batch_records_nothing_and_says_why(small_disk, capsys):
    course = course_in(small_disk / "course", "sandboxed", min_free_disk_bytes=10 * MB)
    incoming = write_submissions(course, small_disk / "incoming", {"ann": {}, "bob": {}})
    fill_disk(small_disk, leave_free=5 * MB)
    with pytest.raises(LowDiskSpace):
        ensure_free_space(course)
    status = cli.safe_grade(course, incoming, course.root / "grades.csv")
    assert status == cli.EXIT_LOW_DISK_SPACE
    assert "Stopped recording: only" in capsys.readouterr().err
    rows = list(csv.DictReader((course.root / "grades.csv").open()))
    assert [(r["student"], r["status"], r["score"]) for r in rows] == [("ann", PENDING, ""), ("bob", PENDING, "")]
    assert not (course.root / "autograded").exists() and not (course.root / "feedback").exists()


# -- with kernels ---------------------------------------------------------------------------------

# Writes 10 MB files into each place until refused, at most 5 times the bound (so an unbounded place
# costs the host little before the test fails), then reports what was stored and removes its files
# outside the working folder.
FILLER = r'''
import json as _json, os as _os, shutil as _shutil, time as _time
def _fill(folder, cap):
    stored, reason, started = 0, "never refused", _time.monotonic()
    try:
        _os.makedirs(folder, exist_ok=True)
        for index in range(cap // 10**7):
            with open(_os.path.join(folder, f"fill-{index}"), "wb") as handle:
                for _ in range(10):
                    handle.write(b"x" * 10**6)
                    handle.flush()
    except OSError as error:
        reason = error.strerror
    if _os.path.isdir(folder):
        stored = sum(entry.stat().st_size for entry in _os.scandir(folder))
    return [stored, reason, _time.monotonic() - started]
_places = {"cwd": "fill-cwd", "home": _os.environ["HOME"] + "/fill-home", "tmp": "/tmp/dvw-fill-tmp",
           "var_tmp": "/var/tmp/dvw-fill-var", "dev_shm": "/dev/shm/dvw-fill-shm", "course": COURSE + "/dvw-fill"}
_filled = {name: _fill(folder, CAP) for name, folder in _places.items()}
for _name in ["tmp", "var_tmp", "dev_shm", "course"]:
    _shutil.rmtree(_places[_name], ignore_errors=True)
print("FILLED " + _json.dumps(_filled))
'''


def filled_report(course, student: str) -> dict[str, list]:
    nb = nbformat.read(course.autograded_notebook(student), as_version=4)
    (cell,) = [c for c in nb.cells if c.id == FIRST]
    text = "".join(output.get("text", "") for output in cell.outputs)
    return json.loads(text.split("FILLED ", 1)[1].splitlines()[0])


@pytest.mark.integration
@pytest.mark.parametrize("mode", MODES)
def test_a_submission_that_fills_its_disk_is_graded_on_what_ran_and_the_next_grades_normally(tmp_path, mode):
    course = course_in(tmp_path / "course", mode, work_folder_bytes=WORK_FOLDER_BYTES, scratch_tmpfs_bytes=TMP_BYTES)
    build_release(course)
    filler = FILLER.replace("COURSE", repr(str(course.root))).replace("CAP", str(5 * max(WORK_FOLDER_BYTES, TMP_BYTES)))
    correct_first = right_answers(course, FIRST)[FIRST]
    incoming = write_submissions(course, tmp_path / "incoming", {"a_filler": {FIRST: filler + correct_first},
                                                                 "b_next": right_answers(course, FIRST)})
    points = auto_points(course, FIRST)
    reports = {r.student: r for r in Grader(course).grade_all(find_submissions(course, incoming))}

    filled = filled_report(course, "a_filler")
    assert filled["cwd"][0] + filled["home"][0] <= WORK_FOLDER_BYTES + PAGE  # working folder and HOME: one bound
    assert filled["cwd"][1] == "No space left on device"
    assert filled["tmp"][0] + filled["var_tmp"][0] + filled["dev_shm"][0] <= TMP_BYTES + PAGE  # the temporary folders: another
    assert filled["tmp"][1] == "No space left on device"
    assert all(filled[name][1] != "never refused" for name in filled), filled
    assert filled["course"][0] == 0 and not (course.root / "dvw-fill").exists()

    a_filler, b_next = reports["a_filler"], reports["b_next"]
    assert (a_filler.status, a_filler.score) == ("graded", points), a_filler.notes
    assert any(f"wrote more than {WORK_FOLDER_BYTES // MB} MB" in note for note in a_filler.notes), a_filler.notes
    feedback = (course.root / "feedback" / "a_filler" / course.assignment_id / f"{course.notebook}.html").read_text()
    assert f"wrote more than {WORK_FOLDER_BYTES // MB} MB" in feedback
    assert (b_next.status, b_next.score, b_next.notes) == ("graded", points, [])


@pytest.mark.integration
def test_low_disk_space_stops_the_batch_cleanly_and_loses_nothing(small_disk, monkeypatch, capsys):
    # The guard is on the grader's own writes, whatever confines the kernels: one mode is enough.
    course = course_in(small_disk / "course", "sandboxed", min_free_disk_bytes=10 * MB)
    build_release(course)
    answers = {"ann": ["get_num_params", "make_data"], "bob": ["get_num_params"], "cat": ["make_data"]}
    incoming = write_submissions(course, small_disk / "incoming", {s: right_answers(course, *ids) for s, ids in answers.items()})
    scores = {s: auto_points(course, *ids) for s, ids in answers.items()}
    csv_path = course.root / "grades.csv"

    # The disk fills up (another program, say) right after the first submission is recorded.
    record, fillers = Grader.record, []

    def record_then_fill(grader, evaluation):
        record(grader, evaluation)
        if not fillers:
            fillers.append(fill_disk(small_disk, leave_free=5 * MB))

    monkeypatch.setattr(Grader, "record", record_then_fill)
    assert cli.safe_grade(course, incoming, csv_path) == cli.EXIT_LOW_DISK_SPACE
    assert "Stopped recording: only" in capsys.readouterr().err
    rows = {row["student"]: row for row in csv.DictReader(csv_path.open())}
    assert [rows[s]["status"] for s in ("ann", "bob", "cat")] == ["graded", PENDING, PENDING]
    states = course.state_dir / "students"
    assert sorted(p.name for p in states.iterdir()) == ["ann.json"]
    assert sorted(p.name for p in (course.root / "feedback").iterdir()) == ["ann"]
    assert not course.autograded_notebook("bob").exists() and not course.autograded_notebook("cat").exists()
    with open_gradebook(course) as gradebook:
        assert [s.student_id for s in gradebook.assignment_submissions(course.assignment_id)] == ["ann"]
        assert gradebook.find_submission(course.assignment_id, "ann").score == float(rows["ann"]["score"]) == scores["ann"]
    assert not [p for p in course.root.rglob(".*.tmp")]  # no half-written file left behind

    # Space is freed: the next run grades exactly what was left, and keeps what was recorded.
    fillers[0].unlink()
    monkeypatch.setattr(Grader, "record", record)
    assert cli.safe_grade(course, incoming, csv_path) == 0
    rows = {row["student"]: row for row in csv.DictReader(csv_path.open())}
    assert {s: (rows[s]["status"], float(rows[s]["score"])) for s in rows} == {s: ("graded", score) for s, score in scores.items()}
    assert "(unchanged)" in capsys.readouterr().out  # ann was not graded again
    with open_gradebook(course) as gradebook:
        assert {s.student_id: s.score for s in gradebook.assignment_submissions(course.assignment_id)} == scores
