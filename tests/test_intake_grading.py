"""`dvwcourse grade` on each LMS's download and on renamed, nested and missing notebooks in nbgrader's layout: every
student recorded under the roster's id with the score their notebook earns; bad files are outcomes, never a stop."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import copy_course, require_sandbox, share_master_run
from dvwcourse import cli
from dvwcourse.nbgrader_api import open_gradebook
from dvwcourse.release import build_release
from dvwcourse.settings import Course, load_course
from test_intake import NAME, download, notebooks  # noqa: F401  (a fixture)

pytestmark = pytest.mark.integration

ROSTER = """id,first_name,last_name,email,lms_user_id
s01,Ada,Lovelace,,1001
s02,Alan,Turing,,1002
s03,Grace,Hopper,,1003
s04,Emmy,Noether,,1004
s05,Marie,Curie,,1005
s06,Katherine,Johnson,,1006
s07,Dorothy,Vaughan,,1007
s08,Mary,Jackson,,1008
s09,Hedy,Lamarr,,1009
"""


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Course:
    root = tmp_path_factory.mktemp("intake-course")
    copy_course(root)
    require_sandbox()
    (root / "samples" / "roster.csv").write_text(ROSTER)
    course = load_course(root)
    build_release(course)  # the assignment in the gradebook
    share_master_run(course)
    return course


def grade(course: Course, source: Path, capsys) -> tuple[int, str, str]:
    status = cli.main(["--course", str(course.root), "grade", str(source), "--workers", "2", "--csv", str(course.root / cli.RESULTS_CSV)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def recorded(course: Course, students: list[str]) -> dict[str, float]:
    with open_gradebook(course) as gradebook:
        return {s: gradebook.find_submission(course.assignment_id, s).score for s in students}


LAYOUTS = {
    "canvas": lambda nb: {"lovelaceada_LATE_1001_5550101_depth_vs_width-1.ipynb": nb["correct-student"],
                          "turingalan_1002_5550102_Copy of depth_vs_width.ipynb": nb["make-data-mistake"]},
    "moodle-folders": lambda nb: {f"Grace Hopper_88101_assignsubmission_file_/my work/{NAME}": nb["correct-student"],
                                  f"Emmy Noether_88102_assignsubmission_file_/{NAME}": nb["blank-student"]},
    "moodle-flat": lambda nb: {"Marie Curie_88103_assignsubmission_file_depth_vs_width (1).ipynb": nb["correct-student"],
                               "Katherine Johnson_88104_assignsubmission_file_notes.txt": b"nothing here"},
    "blackboard": lambda nb: {"depth_vs_width_s07_attempt_2026-12-04-09-00-00_Copy of depth_vs_width.ipynb": nb["correct-student"],
                              "depth_vs_width_s07_attempt_2026-12-04-09-00-00.txt": b"receipt"},
    "brightspace": lambda nb: {"77-1 - Mary Jackson - Dec 4, 2026 905 AM/Copy of depth_vs_width.ipynb": nb["correct-student"],
                               f"77-2 - Hedy Lamarr - Dec 4, 2026 910 AM/{NAME}": b"{ broken",
                               "index.html": b"<html></html>"},
}
EXPECTED = {  # the roster id each student is recorded under, and the score their notebook earns (None: unreadable)
    "canvas": {"s01": 24, "s02": 22}, "moodle-folders": {"s03": 24, "s04": 0}, "moodle-flat": {"s05": 24, "s06": None},
    "blackboard": {"s07": 24}, "brightspace": {"s08": 24, "s09": None},
}


@pytest.mark.parametrize("lms", list(LAYOUTS))
def test_each_lms_download_is_graded_under_the_rosters_ids(course, tmp_path, capsys, notebooks, lms):
    status, out, err = grade(course, download(tmp_path, LAYOUTS[lms](notebooks)), capsys)
    expected = EXPECTED[lms]
    assert status == (1 if None in expected.values() else 0), out + err  # 1: a submission could not be graded
    assert "Not on the roster" not in out and "warning:" not in err
    readable = [s for s, score in expected.items() if score is not None]
    assert recorded(course, readable) == {s: expected[s] for s in readable}
    for student, score in expected.items():
        line = next(line for line in out.splitlines() if line.startswith(student + " "))
        assert ("unreadable" in line) == (score is None), line


def test_renamed_nested_and_missing_notebooks_in_nbgraders_layout(course, capsys, notebooks):
    folders = {"s01": {"Copy of depth_vs_width (1).ipynb": notebooks["correct-student"], "scratch.ipynb": notebooks["other"]},
               "s02": {f"my work/{NAME}": notebooks["correct-student"]},
               "s03": {"notes.py": b"x = 1", "depth_vs_width.html": b"<html>"}}
    for student, files in folders.items():
        for name, content in files.items():
            path = course.root / "submitted" / student / course.assignment_id / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    status, out, err = grade(course, course.root / "submitted", capsys)
    assert status == 1  # s03 handed in no notebook
    assert recorded(course, ["s01", "s02"]) == {"s01": 24, "s02": 24}
    assert "s01: graded: no file named depth_vs_width.ipynb was handed in; graded `Copy of depth_vs_width (1).ipynb`" in out
    assert "also handed in, not graded: `scratch.ipynb`" in (course.root / "class-report.html").read_text()
    assert ("s03: unreadable: no notebook of this assignment in your submission (expected depth_vs_width.ipynb): found "
            "`depth_vs_width.html`, `notes.py`") in out
    page = (course.root / "feedback/s03/depth_vs_width/depth_vs_width.html").read_text()
    assert "no notebook of this assignment in your submission" in page and "File graded: none" in page
    page = (course.root / "feedback/s02/depth_vs_width/depth_vs_width.html").read_text()
    assert "graded `my work/depth_vs_width.ipynb`, in a folder of your submission" in page
    status, out, err = grade(course, course.root / "submitted", capsys)  # a plain rerun: all final, nothing regraded
    assert out.count("(unchanged)") == 3


def test_one_odd_name_never_stops_the_batch(course, tmp_path, capsys, notebooks):
    status, out, err = grade(course, download(tmp_path, {
        "hoppergrace_1003_5550103_Copy of depth_vs_width.ipynb": notebooks["blank-student"],
        "whose is this.ipynb": notebooks["correct-student"]}), capsys)
    assert status == 0 and recorded(course, ["s03"]) == {"s03": 0}
    assert "warning: " in err and "whose is this.ipynb: not graded: whose file this is cannot be told from its name" in err
