"""The course loop without kernels: times, due dates, extensions, the late policy, the roster and the LMS files;
the gradebook tests on a small gradebook built with nbgrader's API (SQLite in a temporary folder)."""
from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nbformat
import pytest
import yaml
from nbgrader.preprocessors import AssignLatePenalties
from nbgrader.utils import notebook_hash

from conftest import answering_only, auto_points, copy_course, right_answers
from dvwcourse import cli, stock_grading
from dvwcourse.batch_stop import GradebookUnavailable
from dvwcourse.course_records import CourseRecords, update_course_records
from dvwcourse.course_schema import LatePolicySection
from dvwcourse.deadlines import (CourseLatePenalty, UnreadableTime, late_penalty, late_plugin, lateness, parse_zip_timestamp,
                                 read_timestamp_file)
from dvwcourse.feedback import copy_exchange_stamps, write_feedback_zip
from dvwcourse.records import GradeReport
from dvwcourse.rerun_state import RerunState, state_entry
from dvwcourse.intake import find_submissions
from dvwcourse.lms_export import (CANVAS_COLUMNS, MOODLE_COLUMNS, CanvasExport, MoodleExport, Standing, export_grades,
                                  read_standings)
from dvwcourse.kernel.sandbox import KernelLauncher
from dvwcourse.nbgrader_api import course_config, open_gradebook
from dvwcourse.records import Evaluation, GradeReport
from dvwcourse.release import build_release
from dvwcourse.roster import Student, read_extensions, read_roster
from dvwcourse.safe_grading import Grader
from dvwcourse.settings import Course, CourseError, load_course

HOUR = 3600.0


def policy(**settings) -> LatePolicySection:
    return LatePolicySection(**settings)


@pytest.mark.parametrize("settings, score, seconds_late, expected", [
    ({"rule": "none"}, 20, 10 * HOUR, 0),
    ({"rule": "zero"}, 20, 1, 20),
    ({"rule": "zero", "grace_minutes": 15}, 20, 14 * 60, 0),  # within the grace period: on time
    ({"rule": "zero", "grace_minutes": 15}, 20, 16 * 60, 20),
    ({"rule": "per_hour", "deduct": 0.1}, 20, 1, 2),  # a started hour counts
    ({"rule": "per_hour", "deduct": 0.1}, 20, HOUR + 1, 4),
    ({"rule": "per_hour", "deduct": 0.1, "cap": 0.25}, 20, 5 * HOUR, 5),
    ({"rule": "per_day", "deduct": 0.1, "grace_minutes": 15}, 20, 26 * HOUR, 4),  # counted from the due date, not after the grace
    ({"rule": "per_day", "deduct": 3, "unit": "points"}, 20, 49 * HOUR, 9),
    ({"rule": "per_day", "deduct": 3, "unit": "points"}, 5, 49 * HOUR, 5),  # never more than the score
    ({"rule": "per_day", "deduct": 3, "unit": "points", "cap": 4}, 20, 49 * HOUR, 4),
    ({"rule": "per_day", "deduct": 0.5}, 0, 49 * HOUR, 0),
    # Exact multiples of the period are that many started periods, not one more.
    ({"rule": "per_hour", "deduct": 0.1}, 20, HOUR, 2),
    ({"rule": "per_hour", "deduct": 0.1}, 20, 2 * HOUR, 4),
    ({"rule": "per_day", "deduct": 0.1}, 20, 24 * HOUR, 2),
    ({"rule": "per_day", "deduct": 0.1}, 20, 48 * HOUR, 4),
    ({"rule": "per_day", "deduct": 0.1}, 20, 48 * HOUR + 1, 6),
    # Exactly at the end of the grace minutes is on time; a second later counts from the due date.
    ({"rule": "per_hour", "deduct": 0.1, "grace_minutes": 15}, 20, 15 * 60, 0),
    ({"rule": "per_hour", "deduct": 0.1, "grace_minutes": 15}, 20, 15 * 60 + 1, 2),
    ({"rule": "zero", "grace_minutes": 15}, 20, 15 * 60, 0),
    ({"rule": "per_hour", "deduct": 0.1}, 20, 0, 0),  # on the dot: on time
    ({"rule": "zero"}, 0.5, 1, 0.5),  # a score below one point is still taken whole
    ({"rule": "per_hour", "deduct": 0.01}, 20, 1, 0.2),  # a penalty below one point is not rounded up
])
def test_the_late_policy(settings, score, seconds_late, expected):
    assert late_penalty(policy(**settings), score, seconds_late) == pytest.approx(expected)


def standing(student: str, first: str, last: str, lms_id: str, raw: float, penalty: float) -> Standing:
    return Standing(student=student, first_name=first, last_name=last, email=f"{student}@x.org" if first else "", lms_user_id=lms_id,
                    submitted=raw > 0, timestamp=None, duedate=None, seconds_late=0.0, raw_score=raw, late_penalty=penalty,
                    max_score=24.0, needs_manual_grade=False)


STANDINGS = [standing("ada", "Ada", "Lovelace", "1001", 10.0, 0.0), standing("alan", "Alan", "Turing", "1002", 8.0, 1.6),
             standing("eve", "", "", "", 4.0, 0.0), standing("bob", "Bob", "", "1004", 3.0, 5.0)]


def test_the_canvas_rows_name_each_student_and_give_the_final_score(course):
    canvas = replace(course, canvas_assignment_id="4242")
    rows = CanvasExport().rows([canvas], {course.assignment_id: STANDINGS})
    assert rows == [CANVAS_COLUMNS + [f"{course.title} (4242)"],
                    ["Lovelace, Ada", "1001", "ada", "", "", "10"],
                    ["Turing, Alan", "1002", "alan", "", "", "6.4"],  # raw score minus the late penalty
                    ["Bob", "1004", "bob", "", "", "0"],  # a penalty above the score leaves 0, never less
                    ["eve", "", "eve", "", "", "4"]]  # not on the roster: named by id
    new = replace(course, canvas_assignment_id="")
    assert CanvasExport().rows([new], {course.assignment_id: []})[0][-1] == course.title  # Canvas makes a new one


def test_the_moodle_rows_give_names_id_email_and_the_final_score(course):
    assert MoodleExport().rows([course], {course.assignment_id: STANDINGS}) == [
        MOODLE_COLUMNS + [f"Assignment: {course.title} (Real)"],
        ["Ada", "Lovelace", "ada", "ada@x.org", "10"],
        ["Alan", "Turing", "alan", "alan@x.org", "6.4"],
        ["Bob", "", "bob", "bob@x.org", "0"],
        ["", "", "eve", "", "4"]]


def test_two_assignments_give_one_column_each_and_a_student_missing_from_one_gets_0_there(course):
    second = replace(course, assignment_id="second", title="Second", canvas_assignment_id="77")
    first = replace(course, canvas_assignment_id="4242")
    later = [standing("ada", "Ada", "Lovelace", "1001", 5.0, 1.0), standing("zoe", "Zoe", "Z", "1009", 2.0, 0.0)]
    rows = CanvasExport().rows([first, second], {course.assignment_id: STANDINGS[:1], "second": later})
    assert rows == [CANVAS_COLUMNS + [f"{course.title} (4242)", "Second (77)"],
                    ["Lovelace, Ada", "1001", "ada", "", "", "10", "4"],
                    ["Z, Zoe", "1009", "zoe", "", "", "0", "2"]]
    assert MoodleExport().rows([first, second], {course.assignment_id: STANDINGS[:1], "second": later})[0][-2:] == [
        f"Assignment: {course.title} (Real)", "Assignment: Second (Real)"]


def test_a_fraction_above_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match="fractions of the score"):
        policy(rule="per_day", deduct=1.5)


def with_settings(tmp_path: Path, **changes) -> Course:
    """A copy of the course with course.yml sections changed (merged key by key)."""
    tmp_path.mkdir(exist_ok=True)
    return change_settings(copy_course(tmp_path), **changes)


def change_settings(course: Course, **changes) -> Course:
    """The course with course.yml sections changed in place (merged key by key), loaded again."""
    path = course.root / "course.yml"
    settings = yaml.safe_load(path.read_text())
    for section, values in changes.items():
        settings[section] = {**settings.get(section, {}), **values} if isinstance(values, dict) else values
    path.write_text(yaml.safe_dump(settings))
    return load_course(course.root)


def test_nbgrader_uses_our_plugin_with_the_course_policy(tmp_path):
    course = with_settings(tmp_path, late_policy={"rule": "per_hour", "deduct": 2, "unit": "points", "cap": 5, "grace_minutes": 0})
    config = course_config(course)
    assert config.AssignLatePenalties.plugin_class is CourseLatePenalty
    plugin = late_plugin(course)
    assert plugin.late_submission_penalty("s", 20.0, 2.5 * HOUR) == 5.0  # 3 started hours x 2, capped at 5
    assert plugin.late_submission_penalty("s", 20.0, 0.5 * HOUR) == 2.0


def test_the_due_date_must_name_its_time_zone(tmp_path):
    course = copy_course(tmp_path)
    path = course.root / "course.yml"
    path.write_text(path.read_text().replace('due: "2026-12-04T17:00:00+01:00"', 'due: "2026-12-04T17:00:00"'))
    with pytest.raises(CourseError, match="assignment.due"):
        load_course(course.root)


# -- times ---------------------------------------------------------------------------------------


def test_times_come_from_nbgrader_timestamp_files(course_copy, tmp_path):
    folder = course_copy.root / "submitted"
    for student, stamp in [("ada", "2026-12-04 15:30:00.000000 UTC"), ("alan", None)]:
        target = folder / student / course_copy.assignment_id
        target.mkdir(parents=True)
        nbformat.write(nbformat.v4.new_notebook(), target / f"{course_copy.notebook}.ipynb")
        (target / "submission_secret.txt").write_text("secret")
        if stamp:
            (target / "timestamp.txt").write_text(stamp)
    submissions = {s.student: s for s in find_submissions(course_copy)}
    assert submissions["ada"].timestamp == datetime(2026, 12, 4, 15, 30)
    assert submissions["alan"].timestamp is None
    assert submissions["ada"].files == []  # nbgrader's stamps are not the student's work


def submitted_with_times(course: Course, stamps: dict[str, str | None]) -> None:
    """submitted/<student>/<assignment>/ with an empty notebook and, unless None, this timestamp.txt text."""
    for student, stamp in stamps.items():
        target = course.root / "submitted" / student / course.assignment_id
        target.mkdir(parents=True)
        nbformat.write(nbformat.v4.new_notebook(), target / f"{course.notebook}.ipynb")
        if stamp is not None:
            (target / "timestamp.txt").write_text(stamp)


def test_a_timestamp_file_nbgrader_cannot_read_leaves_that_time_unknown_and_names_the_file(course_copy):
    submitted_with_times(course_copy, {"ada": "yesterday-ish", "alan": "2026-12-05 18:00:00.000000 UTC"})
    bad = course_copy.root / "submitted" / "ada" / course_copy.assignment_id / "timestamp.txt"
    with pytest.raises(UnreadableTime, match="timestamp.txt: not a time nbgrader can read"):  # the reader stays strict
        read_timestamp_file(bad)
    ada, alan = find_submissions(course_copy)  # the batch goes on without that time
    assert ada.timestamp is None and alan.timestamp == datetime(2026, 12, 5, 18, 0) and not alan.time_flag
    assert ada.time_flag.startswith(f"submission time unknown: {bad}: not a time nbgrader can read ('yesterday-ish': ")
    assert ada.time_flag.endswith("; no late penalty applied — check it by hand")


def lms_zip(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        for name in names:
            bundle.writestr(name, nbformat.writes(nbformat.v4.new_notebook(metadata={"uploaded_as": name})))
    return path


def uploaded_as(notebook: Path) -> str:
    """Which file of an lms_zip a submission's notebook came from (the intake names it as the student uploaded it)."""
    return nbformat.read(notebook, as_version=4).metadata["uploaded_as"]


def test_times_come_from_lms_file_names_in_the_due_dates_zone_and_the_latest_attempt_counts(course_copy, tmp_path):
    archive = lms_zip(tmp_path / "download.zip", [
        "depth_vs_width_ada_attempt_2026-12-04-16-30-00_depth_vs_width.ipynb",
        "depth_vs_width_ada_attempt_2026-12-04-09-00-00_depth_vs_width.ipynb",
        "depth_vs_width_alan_attempt_2026-12-05-19-00-00_depth_vs_width.ipynb",
    ])
    submissions = {s.student: s for s in find_submissions(course_copy, archive)}
    assert submissions["ada"].timestamp == datetime(2026, 12, 4, 15, 30)  # 16:30 at +01:00, the due date's zone
    assert uploaded_as(submissions["ada"].notebook).startswith("depth_vs_width_ada_attempt_2026-12-04-16-30")
    assert submissions["ada"].notebook.name == "depth_vs_width.ipynb"  # as uploaded, without the LMS's prefix
    assert submissions["alan"].timestamp == datetime(2026, 12, 5, 18, 0)


def test_a_time_that_does_not_match_the_format_leaves_that_time_unknown_and_names_the_file_and_the_setting(course_copy, tmp_path):
    bad = "depth_vs_width_ada_attempt_2026-12-04_depth_vs_width.ipynb"
    archive = lms_zip(tmp_path / "download.zip", [bad, "depth_vs_width_alan_attempt_2026-12-05-19-00-00_depth_vs_width.ipynb"])
    with pytest.raises(UnreadableTime, match=r"does not match lms.zip_timestamp_format"):  # the parser stays strict
        parse_zip_timestamp(course_copy, "2026-12-04", bad)
    ada, alan = find_submissions(course_copy, archive)
    assert ada.timestamp is None and alan.timestamp == datetime(2026, 12, 5, 18, 0) and not alan.time_flag
    assert ada.time_flag.startswith(f"submission time unknown: {archive}: {bad}: timestamp '2026-12-04' does not match "
                                    "lms.zip_timestamp_format '%Y-%m-%d-%H-%M-%S' in course.yml (")
    assert ada.time_flag.endswith("; no late penalty applied — check it by hand")


def test_an_attempt_whose_time_cannot_be_read_is_named_on_the_attempt_that_counts(course_copy, tmp_path):
    archive = lms_zip(tmp_path / "download.zip", ["depth_vs_width_ada_attempt_2026-12-04-16-30-00_depth_vs_width.ipynb",
                                                  "depth_vs_width_ada_attempt_2026-12-0_depth_vs_width.ipynb"])
    [ada] = find_submissions(course_copy, archive)  # which attempt is later cannot be known: the one with a time counts
    assert ada.timestamp == datetime(2026, 12, 4, 15, 30)
    assert ada.time_flag.startswith(f"an attempt's time unknown: {archive}: depth_vs_width_ada_attempt_2026-12-0_depth_vs_width.ipynb: ")
    assert ada.time_flag.endswith("graded the latest attempt with a time, submitted 2026-12-04 15:30:00 UTC — check it by hand")


# -- roster and extensions ------------------------------------------------------------------------


def write_csv(path: Path, text: str) -> str:
    path.write_text(text)
    return path.name


def test_the_roster_and_extensions_are_read_with_clear_errors(tmp_path):
    roster = write_csv(tmp_path / "roster.csv", "\ufeffid,first_name,last_name,email,lms_user_id\nada,Ada,Lovelace,a@x.org,7\n")
    extensions = write_csv(tmp_path / "ext.csv", "student,due\nada,2026-12-06T17:00:00+01:00\n")
    course = with_settings(tmp_path / "c", lms={"roster": str(tmp_path / roster), "extensions": str(tmp_path / extensions)})
    assert read_roster(course) == {"ada": Student("ada", "Ada", "Lovelace", "a@x.org", "7")}
    assert read_extensions(course) == {"ada": datetime(2026, 12, 6, 16, 0, tzinfo=timezone.utc)}

    write_csv(tmp_path / "roster.csv", "name,email\nada,a@x.org\n")
    with pytest.raises(CourseError, match=r"roster.csv: missing column\(s\) id"):
        read_roster(course)
    write_csv(tmp_path / "roster.csv", "id\nada\nada\n")
    with pytest.raises(CourseError, match=r"roster.csv, line 3: student ada is listed twice"):
        read_roster(course)
    write_csv(tmp_path / "ext.csv", "student,due\nada,2026-12-06 17:00\n")
    with pytest.raises(CourseError, match=r"ext.csv, line 2: due .* has no time zone"):
        read_extensions(course)


# -- the gradebook: times, extensions, penalties, roster, exports -------------------------------------
# These use nbgrader's gradebook (a new one runs nbgrader's migrations): integration tests.


@pytest.fixture(scope="module")
def empty_gradebook(tmp_path_factory) -> Path:
    """A new gradebook, made once: nbgrader runs its database migrations (a few seconds) on every new one."""
    course = copy_course(tmp_path_factory.mktemp("empty"))
    with open_gradebook(course):
        pass
    return course.root / "gradebook.db"


def graded_course(tmp_path: Path, empty_gradebook: Path, **changes) -> Course:
    """A course copy whose gradebook has the assignment (one autograded cell of 10 points, one written answer
    of 2) and three submissions: ada (on time), alan (late by 26 h, extension to +24 h), eve (not on the roster)."""
    roster = tmp_path / "roster.csv"
    roster.write_text("id,first_name,last_name,email,lms_user_id\nada,Ada,Lovelace,ada@x.org,1001\n"
                      "alan,Alan,Turing,alan@x.org,1002\ngrace,Grace,Hopper,grace@x.org,1003\n")
    (tmp_path / "ext.csv").write_text("student,due\nalan,2026-12-05T17:00:00+01:00\n")
    lms = {"roster": str(roster), "extensions": str(tmp_path / "ext.csv"), **changes.pop("lms", {})}
    course = with_settings(tmp_path / "course", lms=lms,
                           late_policy={"rule": "per_hour", "deduct": 0.1, "unit": "fraction", "cap": 0.5, "grace_minutes": 15},
                           **changes)
    shutil.copy(empty_gradebook, course.root / "gradebook.db")
    with open_gradebook(course) as gradebook:
        gradebook.add_assignment(course.assignment_id)
        gradebook.add_notebook(course.notebook, course.assignment_id)
        gradebook.add_grade_cell("test_x", course.notebook, course.assignment_id, max_score=10, cell_type="code")
        gradebook.add_grade_cell("discussion_x", course.notebook, course.assignment_id, max_score=2, cell_type="markdown")
        for student, auto in [("ada", 10.0), ("alan", 8.0), ("eve", 4.0)]:
            gradebook.update_or_create_student(student)
            submission = gradebook.add_submission(course.assignment_id, student)
            for grade in submission.notebooks[0].grades:
                grade.auto_score = auto if grade.name == "test_x" else None
                grade.needs_manual_grade = grade.name != "test_x"
        gradebook.db.commit()
    return course


def submissions_at(course: Course, times: dict[str, datetime | None]):
    return [cli.Submission(student, course.root / "none.ipynb", timestamp=time) for student, time in times.items()]


DUE_UTC = datetime(2026, 12, 4, 16, 0)


@pytest.mark.integration
def test_times_extensions_penalties_and_the_roster_reach_the_gradebook(tmp_path, empty_gradebook):
    course = graded_course(tmp_path, empty_gradebook)
    times = {"ada": DUE_UTC - timedelta(hours=1), "alan": DUE_UTC + timedelta(hours=26), "eve": None}
    records = update_course_records(course, submissions_at(course, times))
    assert records.unknown_students == ["eve"] and records.without_time == ["eve"]
    with open_gradebook(course) as gradebook:
        assert gradebook.find_assignment(course.assignment_id).duedate == DUE_UTC
        alan = gradebook.find_submission(course.assignment_id, "alan")
        assert alan.timestamp == DUE_UTC + timedelta(hours=26) and alan.extension == timedelta(days=1)
        assert alan.total_seconds_late == 2 * HOUR
        assert alan.late_submission_penalty == pytest.approx(0.2 * 8)  # two started hours, 10% of 8 each
        assert gradebook.find_submission(course.assignment_id, "ada").late_submission_penalty == 0
        student = gradebook.find_student("grace")  # on the roster, never submitted
        assert (student.first_name, student.last_name, student.email, student.lms_user_id) == ("Grace", "Hopper", "grace@x.org", "1003")
    standings = {s.student: s for s in read_standings(course)}
    assert (standings["alan"].raw_score, standings["alan"].late_penalty, standings["alan"].score) == pytest.approx((8, 1.6, 6.4))
    assert not standings["grace"].submitted and standings["grace"].score == 0
    assert standings["ada"].needs_manual_grade


@pytest.mark.integration
def test_a_manual_grade_given_later_is_in_the_penalty_at_export(tmp_path, empty_gradebook):
    course = graded_course(tmp_path, empty_gradebook)
    update_course_records(course, submissions_at(course, {"alan": DUE_UTC + timedelta(hours=26)}))
    report = GradeReport("alan", "graded", 8.0, 10.0, graded_file="Copy of depth_vs_width.ipynb", found="found by its content")
    RerunState(course.state_dir).save("alan", state_entry("d", "f", report.to_dict()))  # what grading recorded
    with open_gradebook(course) as gradebook:  # a TA grades the written answer in formgrader
        grade = gradebook.find_grade("discussion_x", course.notebook, course.assignment_id, "alan")
        grade.manual_score = 2.0
        gradebook.db.commit()
    assert cli.main(["--course", str(course.root), "export", "--format", "csv"]) == 0
    row = next(r for r in csv.DictReader((course.root / "grades.csv").open()) if r["student_id"] == "alan")
    assert (float(row["raw_score"]), float(row["late_submission_penalty"]), float(row["score"])) == pytest.approx((10, 2, 8))
    assert row["timestamp"].startswith("2026-12-05 18:00") and row["duedate"].startswith("2026-12-04 16:00")
    page = (course.root / "feedback/alan/depth_vs_width/depth_vs_width.html").read_text()  # the page shows what was exported
    assert "Submitted: 2026-12-05 18:00:00 UTC; due 2026-12-05 16:00:00 UTC" in page and "Late by 2.0 h: late penalty 2 points." in page
    assert "10 &minus; 2 late penalty = 8 / 12" in page and "<code>Copy of depth_vs_width.ipynb</code>" in page


@pytest.mark.integration
def test_nbgrader_late_penalty_preprocessor_agrees_with_ours(tmp_path, empty_gradebook):
    course = graded_course(tmp_path, empty_gradebook)
    update_course_records(course, submissions_at(course, {"alan": DUE_UTC + timedelta(hours=30)}))
    with open_gradebook(course) as gradebook:
        ours = gradebook.find_submission(course.assignment_id, "alan").late_submission_penalty
    resources = {"nbgrader": {"notebook": course.notebook, "assignment": course.assignment_id, "student": "alan",
                              "db_url": f"sqlite:///{course.root / 'gradebook.db'}"}}
    AssignLatePenalties(config=course_config(course)).preprocess(nbformat.v4.new_notebook(), resources)
    with open_gradebook(course) as gradebook:
        theirs = gradebook.find_submission(course.assignment_id, "alan").late_submission_penalty
    assert theirs == ours == pytest.approx(0.5 * 8)  # six started hours: capped at half the score


def read_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


@pytest.mark.integration
def test_the_canvas_file_has_the_documented_columns_and_final_scores(tmp_path, empty_gradebook):
    course = graded_course(tmp_path, empty_gradebook, lms={"canvas_assignment_id": "4242"})
    update_course_records(course, submissions_at(course, {"ada": DUE_UTC, "alan": DUE_UTC + timedelta(hours=26), "eve": None}))
    rows = read_rows(export_grades(course, "canvas"))
    assert rows[0] == CANVAS_COLUMNS + [f"{course.title} (4242)"]
    assert rows[1:] == [
        ["Lovelace, Ada", "1001", "ada", "", "", "10"],
        ["Turing, Alan", "1002", "alan", "", "", "6.4"],
        ["eve", "", "eve", "", "", "4"],  # not on the roster: named by id
        ["Hopper, Grace", "1003", "grace", "", "", "0"],  # on the roster, nothing submitted
    ]


@pytest.mark.integration
def test_the_moodle_file_has_the_documented_columns(tmp_path, empty_gradebook):
    course = graded_course(tmp_path, empty_gradebook)
    update_course_records(course, submissions_at(course, {"alan": DUE_UTC + timedelta(hours=26)}))
    rows = read_rows(export_grades(course, "moodle"))
    assert rows[0] == MOODLE_COLUMNS + [f"Assignment: {course.title} (Real)"]
    assert ["Alan", "Turing", "alan", "alan@x.org", "6.4"] in rows and ["Grace", "Hopper", "grace", "grace@x.org", "0"] in rows


def test_no_two_tools_write_one_file_name(tmp_path):
    names = {cli.RESULTS_CSV, *cli.DEFAULT_NAMES.values()}
    assert len(names) == 1 + len(cli.DEFAULT_NAMES) and cli.DEFAULT_NAMES["csv"] == "grades.csv"  # grades.csv: nbgrader's export only


def run_nbgrader(course: Course, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    run = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), *args], cwd=course.root, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    return run


@pytest.mark.integration
def test_nbgrader_export_with_our_exporters_writes_the_same_files(tmp_path, empty_gradebook):
    course = graded_course(tmp_path, empty_gradebook)
    update_course_records(course, submissions_at(course, {"ada": DUE_UTC, "alan": DUE_UTC + timedelta(hours=26), "eve": None}))
    for name, exporter in [("canvas", "CanvasExport"), ("moodle", "MoodleExport")]:
        ours = export_grades(course, name)
        run_nbgrader(course, "export", f"--exporter=dvwcourse.lms_export.{exporter}", f"--to={tmp_path / name}.csv")
        assert (tmp_path / f"{name}.csv").read_text() == ours.read_text()


@pytest.mark.integration
def test_feedback_goes_back_through_nbgrader_release_feedback_and_as_an_lms_zip(tmp_path, empty_gradebook):
    course = graded_course(tmp_path, empty_gradebook)
    submitted = course.submitted_notebook("alan").parent
    submitted.mkdir(parents=True)
    (submitted / "timestamp.txt").write_text("2026-12-05 18:00:00.000000 UTC")
    (submitted / "submission_secret.txt").write_text("s3cret")
    page = course.root / "feedback" / "alan" / course.assignment_id / f"{course.notebook}.html"
    page.parent.mkdir(parents=True)
    page.write_text("<p>feedback for alan</p>")
    copy_exchange_stamps(course, "alan")
    assert (page.parent / "submission_secret.txt").read_text() == "s3cret"
    (course.root / "exchange").mkdir(mode=0o777)  # the hub's exchange, as its admin sets it up
    (course.root / "exchange").chmod(0o777)
    run_nbgrader(course, "release_feedback", course.assignment_id)
    released = course.root / "exchange" / course.course_id / "feedback" / f"{notebook_hash(secret='s3cret', notebook_id=course.notebook)}.html"
    assert released.read_text() == "<p>feedback for alan</p>"

    archive = write_feedback_zip(course, [Student("alan", "Alan", "Turing", "alan@x.org", "1002"), Student("ada")], tmp_path / "fb.zip")
    with zipfile.ZipFile(archive) as bundle:  # ada has no feedback page: not in the zip
        assert bundle.namelist() == [f"Alan Turing_1002_assignsubmission_file_/{course.notebook}_feedback.html"]
        assert bundle.read(bundle.namelist()[0]) == b"<p>feedback for alan</p>"


def test_the_summary_names_late_submissions_those_without_a_time_and_unknown_students(course, capsys):
    late = Standing("alan", "Alan", "Turing", "", "", True, DUE_UTC, DUE_UTC, 2 * HOUR, 8.0, 1.6, 12.0, False)
    cli.print_course_records(course, CourseRecords(unknown_students=["eve"], without_time=["eve", "bob"]), [late])
    out = capsys.readouterr().out
    assert "alan: late by 2.0 h: raw score 8, penalty 1.6, final 6.4" in out
    assert "Submitted with no time (never counted late): eve, bob" in out and "Not on the roster" in out and ": eve;" in out


def test_the_summary_does_not_list_again_a_time_that_could_not_be_read(course, capsys):
    """Its flag already names the file and the cause; the line of submissions without a time leaves it out."""
    cli.print_course_records(course, CourseRecords(without_time=["eve", "bob"]), [], unread_times={"bob"})
    assert "Submitted with no time (never counted late): eve\n" in capsys.readouterr().out
    cli.print_course_records(course, CourseRecords(without_time=["bob"]), [], unread_times={"bob"})
    assert "no time" not in capsys.readouterr().out


@pytest.mark.integration
def test_stock_nbgrader_autograde_applies_the_course_late_policy_itself(tmp_path):
    """`nbgrader autograde` reads timestamp.txt and calls our plugin through AssignLatePenalties."""
    course = copy_course(tmp_path)
    build_release(course)
    update_course_records(course)  # the due date into the gradebook
    notebook = course.submitted_notebook("alan")
    notebook.parent.mkdir(parents=True)
    # One right answer is enough to have a score to penalise (a whole notebook's training is beside the point).
    notebook.write_bytes(answering_only(course, right_answers(course, "get_num_params")))
    (notebook.parent / "timestamp.txt").write_text("2026-12-05 18:00:00.000000 UTC")  # 26 h after 16:00 UTC
    [outcome] = stock_grading.autograde(course, ["alan"])
    assert outcome.graded, outcome.error
    with open_gradebook(course) as gradebook:
        submission = gradebook.find_submission(course.assignment_id, "alan")
        assert submission.total_seconds_late == 26 * HOUR and submission.score == auto_points(course, "get_num_params")
        assert submission.late_submission_penalty == pytest.approx(late_penalty(course.late_policy, submission.score, 26 * HOUR))
        assert submission.late_submission_penalty == pytest.approx(0.2 * submission.score)  # two started days, 10% each


def test_a_mistyped_late_policy_key_names_the_keys_allowed_there(tmp_path):
    with pytest.raises(CourseError) as raised:
        with_settings(tmp_path, late_policy={"rul": "per_day"})
    assert "late_policy.rul: unknown key (allowed here: rule, deduct, unit, cap, grace_minutes)" in str(raised.value)


class GradesEverything:
    """Stands in for the real Grader (no kernels): these tests are about what happens around grading."""
    stopped = None
    state_notes: list[str] = []
    launcher = type("Launcher", (), {"description": "test"})()

    def __init__(self, course):
        pass

    def grade_all(self, submissions, **options):
        return [GradeReport(s.student, "graded", 2.0, 24.0) for s in submissions]


def test_a_gradebook_failure_after_grading_is_reported_and_the_results_are_still_written(course_copy, tmp_path, monkeypatch, capsys):
    def gradebook_down(course, submissions):  # what in_gradebook raises once its retries are spent
        raise GradebookUnavailable("the gradebook sqlite:///gradebook.db did not answer after 6 attempts over 31 s "
                                   "(OperationalError: database is locked)")

    monkeypatch.setattr(cli, "Grader", GradesEverything)
    monkeypatch.setattr(cli, "record_times_and_roster", gradebook_down)
    (tmp_path / "incoming").mkdir()
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "incoming" / "ada.ipynb")
    status = cli.safe_grade(course_copy, tmp_path / "incoming", tmp_path / "results.csv", workers=cli.LocalWorkers(1))
    assert status == 1 and "times, roster and late penalties not recorded" in capsys.readouterr().err
    [row] = csv.DictReader((tmp_path / "results.csv").open())
    assert (row["student"], row["score"], row["late_penalty"]) == ("ada", "2", "")


@pytest.mark.parametrize("source", ["submitted", "zip"])
def test_a_batch_with_a_time_that_cannot_be_read_grades_everyone_and_names_that_file(course_copy, tmp_path, monkeypatch, capsys, source):
    late = DUE_UTC + timedelta(hours=26)
    if source == "submitted":
        submitted_with_times(course_copy, {"ada": "2026-12-04 15:00:00.000000 UTC", "alan": "2026-12-05 18:00:00.000000 UTC",
                                           "eve": "2026-12-09 25:00 UTC"})
        where, bad = None, f"{course_copy.root}/submitted/eve/{course_copy.assignment_id}/timestamp.txt: not a time nbgrader can read"
    else:
        where = lms_zip(tmp_path / "download.zip", [f"dvw_{student}_attempt_{stamp}_dvw.ipynb" for student, stamp in
                                                    [("ada", "2026-12-04-16-00-00"), ("alan", "2026-12-05-19-00-00"), ("eve", "2026-12-09")]])
        bad = f"{where}: dvw_eve_attempt_2026-12-09_dvw.ipynb: timestamp '2026-12-09' does not match lms.zip_timestamp_format"
    recorded = {}

    def record(course, submissions):  # the gradebook's part is tested with a real one below
        recorded.update({s.student: s.timestamp for s in submissions})
        return CourseRecords(), {}

    monkeypatch.setattr(cli, "Grader", GradesEverything)
    monkeypatch.setattr(cli, "record_times_and_roster", record)
    assert cli.safe_grade(course_copy, where, tmp_path / "results.csv", workers=cli.LocalWorkers(1)) == 0
    assert recorded == {"ada": DUE_UTC - timedelta(hours=1), "alan": late, "eve": None}  # eve's time: unknown, never late
    out = capsys.readouterr().out
    assert f"  eve: graded: submission time unknown: {bad}" in out and "no late penalty applied — check it by hand" in out
    rows = {row["student"]: row for row in csv.DictReader((tmp_path / "results.csv").open())}
    assert [rows[s]["status"] for s in ("ada", "alan", "eve")] == ["graded"] * 3
    assert rows["eve"]["reason"].startswith(f"submission time unknown: {bad}") and rows["ada"]["reason"] == rows["alan"]["reason"] == ""
    assert "submission time unknown" in (tmp_path / "class-report.html").read_text()


@pytest.mark.integration
def test_a_time_that_cannot_be_read_is_no_time_in_the_gradebook_and_only_good_late_ones_are_penalised(tmp_path, empty_gradebook,
                                                                                                      monkeypatch, capsys):
    course = graded_course(tmp_path, empty_gradebook)  # alan has an extension to 24 h after the due date
    submitted_with_times(course, {"ada": "2026-12-04 15:00:00.000000 UTC", "alan": "2026-12-05 18:00:00.000000 UTC",
                                  "eve": "2026-12-09 25:00 UTC"})
    monkeypatch.setattr(cli, "Grader", GradesEverything)
    assert cli.safe_grade(course, None, tmp_path / "results.csv", workers=cli.LocalWorkers(1)) == 0
    out = capsys.readouterr().out
    assert "eve: graded: submission time unknown: " in out and "Submitted with no time" not in out  # named once, with its cause
    standings = {s.student: s for s in read_standings(course)}
    assert standings["eve"].timestamp is None and standings["eve"].late_penalty == 0 and standings["eve"].score == 4
    assert standings["ada"].late_penalty == 0 and standings["alan"].late_penalty == pytest.approx(0.2 * 8)  # 2 h past his extension
    resources = {"nbgrader": {"notebook": course.notebook, "assignment": course.assignment_id, "student": "eve",
                              "db_url": f"sqlite:///{course.root / 'gradebook.db'}"}}
    AssignLatePenalties(config=course_config(course)).preprocess(nbformat.v4.new_notebook(), resources)  # nbgrader's own path
    with open_gradebook(course) as gradebook:
        eve = gradebook.find_submission(course.assignment_id, "eve")
        assert eve.timestamp is None and eve.total_seconds_late == 0 and eve.late_submission_penalty == 0


# -- what a course.yml change regrades ---------------------------------------------------------------


def fingerprint(course: Course) -> str:
    return Grader(course, KernelLauncher(course.sandbox, sandboxed=False)).fingerprint


def setting_names(changes: dict) -> str:
    """The changed keys, dotted: a test id."""
    [(section, values)] = changes.items()
    return "+".join(f"{section}.{key}" for key in values) if isinstance(values, dict) else section


@pytest.mark.parametrize("changes", [
    {"assignment": {"due": "2026-12-11T17:00:00+01:00"}}, {"assignment": {"due": None}},
    {"late_policy": {"rule": "zero"}}, {"late_policy": {"deduct": 0.3}}, {"late_policy": {"unit": "points", "deduct": 2}},
    {"late_policy": {"cap": None}}, {"late_policy": {"grace_minutes": 90}},
    {"lms": {"zip_timestamp_format": "%Y%m%d%H%M%S"}}, {"lms": {"canvas_assignment_id": "4242"}}, {"lms": {"roster": ""}},
    {"lms": {"extensions": "extensions.csv"}}, {"zip_filename_regexp": r"(?P<student_id>\w+)_(?P<file_id>\w+)"},
    {"min_free_disk_bytes": 1_000_000},
], ids=setting_names)
def test_a_course_loop_setting_changes_no_fingerprint(tmp_path, changes):
    """Read only after grading (or to find the submissions): the course loop redoes its part on every run."""
    assert fingerprint(with_settings(tmp_path / "after", **changes)) == fingerprint(copy_course(tmp_path))


@pytest.mark.parametrize("changes", [
    {"budget": {"grading": 0.02}}, {"sandbox": {"memory_bytes": 3_000_000_000}}, {"sandbox": {"warm_kernels": False}},
    {"limits": {"cell_timeout_seconds": 30}}, {"points": {"test_make_data": 3}}, {"course_id": "another-course"},
    {"assignment": {"title": "Depth vs width, again"}}, {"feedback": {"show_hidden_test_source": True}},
    {"benign_stderr_warnings": ["UserWarning"]}, {"gradebook_url": "sqlite:///elsewhere.db"},
], ids=setting_names)
def test_a_grading_setting_changes_the_fingerprint(tmp_path, changes):
    assert fingerprint(with_settings(tmp_path / "after", **changes)) != fingerprint(copy_course(tmp_path))


@pytest.mark.integration
def test_a_new_due_date_reprices_lateness_on_the_next_run_without_regrading(tmp_path, empty_gradebook, monkeypatch, capsys):
    course = graded_course(tmp_path, empty_gradebook)  # due 16:00 UTC; 10% per started hour after 15 minutes
    submitted_with_times(course, {"ada": "2026-12-04 19:00:00.000000 UTC", "alan": "2026-12-04 15:00:00.000000 UTC"})
    evaluated = []

    def evaluate(grader, submission):  # no kernel: this is about what a rerun redoes
        evaluated.append(submission.student)
        return Evaluation(GradeReport(submission.student, "graded", 2.0, 24.0), submission.digest())

    monkeypatch.setattr(Grader, "evaluate", evaluate)
    monkeypatch.setattr(Grader, "master_data", lambda grader: {"checks": {}, "call_seconds": {}})
    assert cli.safe_grade(course, None, tmp_path / "results.csv") == 0
    assert evaluated == ["ada", "alan"]
    assert {s.student: s.late_penalty for s in read_standings(course)}["ada"] == pytest.approx(3 * 0.1 * 10)  # 3 h late
    capsys.readouterr()

    course = change_settings(course, assignment={"due": "2026-12-04T19:00:00+01:00"})  # two hours later
    assert cli.safe_grade(course, None, tmp_path / "results.csv") == 0
    assert evaluated == ["ada", "alan"] and capsys.readouterr().out.count("graded (unchanged)") == 2  # nothing regraded
    assert {s.student: s.late_penalty for s in read_standings(course)}["ada"] == pytest.approx(0.1 * 10)  # 1 h late now
    with open_gradebook(course) as gradebook:
        assert gradebook.find_assignment(course.assignment_id).duedate == DUE_UTC + timedelta(hours=2)


@pytest.mark.parametrize("seconds, said", [(5, "1 min"), (359, "6 min"), (360, "0.1 h"), (26 * 3600, "26.0 h")])
def test_lateness_is_said_so_that_seconds_late_never_reads_as_zero(seconds, said):
    assert lateness(seconds) == said
