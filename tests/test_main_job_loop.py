"""The main job's course loop end to end (what `bin/grade-samples` runs): an LMS download with times, graded
against the roster, late penalties applied, a Canvas file the LMS imports, and the class report showing it."""
from __future__ import annotations

import csv

import pytest

from conftest import copy_course, require_sandbox
from dvwcourse import cli
from dvwcourse.lms_export import CANVAS_COLUMNS
from dvwcourse.nbgrader_api import open_gradebook
from dvwcourse.settings import load_course

pytestmark = pytest.mark.integration


def test_the_main_job_goes_from_an_lms_download_to_a_canvas_file_with_late_penalties(tmp_path, capsys):
    copy_course(tmp_path)
    require_sandbox()
    course = load_course(tmp_path)
    assert cli.main(["--course", str(tmp_path), "demo"]) == 0
    out = capsys.readouterr().out

    # 26 h late under the course's policy (10% of the raw score per started day, grace 15 min): 2 days, 20%
    assert "make-data-mistake: late by 26.0 h: raw score 22, penalty 4.4, final 17.6" in out
    assert "Not on the roster" in out and "blank-student; graded and recorded" in out
    with open_gradebook(course) as gradebook:
        late = gradebook.find_submission(course.assignment_id, "make-data-mistake")
        assert late.total_seconds_late == 26 * 3600 and late.late_submission_penalty == pytest.approx(4.4)
        assert gradebook.find_student("correct-student").lms_user_id == "1001"

    with (tmp_path / "canvas-grades.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == CANVAS_COLUMNS + [course.title]
    assert ["Turing, Alan", "1002", "make-data-mistake", "", "", "17.6"] in rows
    assert ["Lovelace, Ada", "1001", "correct-student", "", "", "24"] in rows
    assert ["Hopper, Grace", "1003", "absent-student", "", "", "0"] in rows  # on the roster, never submitted

    results = {row["student"]: row for row in csv.DictReader((tmp_path / cli.RESULTS_CSV).open())}
    assert (results["make-data-mistake"]["raw_score"], results["make-data-mistake"]["late_penalty"],
            results["make-data-mistake"]["final_score"]) == ("22", "4.4", "17.6")
    report = (tmp_path / "class-report.html").read_text()
    assert "Times and late penalties" in report and "4.4" in report and "blank-student" in report

    # The correct sample was uploaded as a Colab copy: found by its content, and everyone is told which file was graded.
    found = "no file named depth_vs_width.ipynb was handed in; graded `Copy of depth_vs_width (1).ipynb`"
    assert f"correct-student: graded: {found}" in out and found in report
    assert found in (tmp_path / "feedback/correct-student/depth_vs_width/depth_vs_width.html").read_text()
    late_page = (tmp_path / "feedback/make-data-mistake/depth_vs_width/depth_vs_width.html").read_text()
    assert "Late by 26.0 h: late penalty 4.4 points." in late_page and "22 &minus; 4.4 late penalty = 17.6 / 32" in late_page
