"""A gradebook that does not answer: waited for with bounded retries, then the batch stops cleanly, naming the
database and the cause; what was recorded stays, the rest is pending for the next run (no kernel, no server)."""
from __future__ import annotations

from dataclasses import replace

import pytest
from nbgrader.api import Gradebook, InvalidEntry
from sqlalchemy.exc import OperationalError

import dvwcourse.nbgrader_api as nbgrader_api
from conftest import copy_course
from dvwcourse import cli
from dvwcourse.batch_stop import GradebookUnavailable
from dvwcourse.intake import Intake, Submission
from dvwcourse.kernel.sandbox import KernelLauncher
from dvwcourse.nbgrader_api import in_gradebook, open_gradebook
from dvwcourse.records import PENDING
from dvwcourse.safe_grading import Grader
from dvwcourse.settings import CourseError

UNREACHABLE = "postgresql+psycopg2://grader:s3cret@127.0.0.1:1/gradebook"  # port 1: refused at once


@pytest.fixture(scope="module")
def empty_gradebook(tmp_path_factory) -> bytes:
    """A new SQLite gradebook, made once: nbgrader asks `alembic heads` for its version, about 2 s, on every new one."""
    course = copy_course(tmp_path_factory.mktemp("gradebook"))
    in_gradebook(course, lambda gradebook: None)
    return (course.root / "gradebook.db").read_bytes()


@pytest.fixture
def course_copy(course_copy, empty_gradebook):
    (course_copy.root / "gradebook.db").write_bytes(empty_gradebook)
    return course_copy


@pytest.fixture
def quick_retries(monkeypatch):
    slept = []
    monkeypatch.setattr(nbgrader_api, "RETRY_DELAYS", (0.01, 0.02, 0.04))
    real_sleep = nbgrader_api.time.sleep
    monkeypatch.setattr(nbgrader_api.time, "sleep", lambda seconds: slept.append(seconds) or real_sleep(seconds))
    return slept


def dropped_connection() -> OperationalError:
    return OperationalError("UPDATE grade", {}, Exception("server closed the connection unexpectedly"))


def test_a_database_that_comes_back_within_the_retries_is_waited_for(course_copy, quick_retries):
    attempts = []

    def operation(gradebook):
        attempts.append(1)
        if len(attempts) < 3:
            raise dropped_connection()
        return "stored"

    assert in_gradebook(course_copy, operation) == "stored"
    assert len(attempts) == 3 and quick_retries == [0.01, 0.02]


def test_nbgraders_own_wrapping_of_a_lost_connection_is_seen_through(course_copy, quick_retries):
    def operation(gradebook):
        try:
            raise dropped_connection()
        except OperationalError as error:
            raise InvalidEntry(*error.args)  # what nbgrader's Gradebook does on a failed commit

    with pytest.raises(GradebookUnavailable, match="did not answer after 4 attempts over 0.07 s .*server closed the connection"):
        in_gradebook(course_copy, operation)


def test_a_server_that_never_answers_stops_with_its_url_without_the_password(course_copy, quick_retries):
    course = replace(course_copy, gradebook_url=UNREACHABLE)
    with pytest.raises(GradebookUnavailable) as stop:
        in_gradebook(course, lambda gradebook: pytest.fail("no gradebook can open"))
    message = str(stop.value)
    assert "postgresql+psycopg2://grader:***@127.0.0.1:1/gradebook did not answer after 4 attempts" in message
    assert "s3cret" not in message and "OperationalError" in message and len(quick_retries) == 3


def test_a_damaged_sqlite_gradebook_is_refused_at_once_and_left_as_it_is(course_copy, quick_retries):
    damaged = b"this is not a database" * 100
    (course_copy.root / "gradebook.db").write_bytes(damaged)
    with pytest.raises(GradebookUnavailable, match="gradebook.db refused the grader .*DatabaseError"):
        in_gradebook(course_copy, lambda gradebook: None)
    assert quick_retries == []  # not a transient fault: no waiting
    assert (course_copy.root / "gradebook.db").read_bytes() == damaged  # it holds manual grades: never replaced


def test_errors_that_are_not_the_databases_pass_through_unchanged(course_copy, quick_retries):
    def operation(gradebook):
        raise CourseError("no assignment")

    with pytest.raises(CourseError, match="no assignment"):
        in_gradebook(course_copy, operation)
    assert quick_retries == []


@pytest.mark.integration  # a real SQLite gradebook: nbgrader creates it with its migrations (seconds)
def test_a_batch_whose_gradebook_goes_away_records_what_it_can_leaves_the_rest_pending_and_exits_4(
        course_copy, quick_retries, monkeypatch, tmp_path, capsys):
    course = replace(course_copy, sandbox=replace(course_copy.sandbox, required=False))
    with open_gradebook(course) as gradebook:
        gradebook.add_assignment(course.assignment_id)
        gradebook.add_notebook(course.notebook, course.assignment_id)
    grader = Grader(course, KernelLauncher(course.sandbox, sandboxed=False))
    grader.use_master_data({})  # unreadable files never reach a kernel
    # The database goes away under in_gradebook right after the first submission is recorded: every later attempt
    # to open it is refused (port 1), so the real retries run out and the batch stops.
    down = []
    real_url, real_record = nbgrader_api.gradebook_url, grader.record
    monkeypatch.setattr(nbgrader_api, "gradebook_url", lambda course: UNREACHABLE if down else real_url(course))
    monkeypatch.setattr(grader, "record", lambda evaluation: real_record(evaluation) or (
        evaluation.report.student == "ann" and down.append(True)))
    monkeypatch.setattr(cli, "Grader", lambda course: grader)
    files = []
    for student in ("ann", "bo", "cy"):
        files.append(tmp_path / f"{student}.ipynb")
        files[-1].write_text("{ not a notebook")
    monkeypatch.setattr(cli, "read_submissions", lambda course, source: Intake([Submission(path.stem, path) for path in files]))
    status = cli.safe_grade(course, tmp_path, tmp_path / "grades.csv")
    assert status == cli.EXIT_GRADEBOOK_UNAVAILABLE == 4
    assert len(quick_retries) == len(nbgrader_api.RETRY_DELAYS)  # waited for, then given up
    assert recorded_students(course, real_url) == ["ann"]
    assert grader.state.final_entry("ann", Submission("ann", files[0]).digest(), grader.fingerprint)
    assert not grader.state.path("bo").exists() and not grader.state.path("cy").exists()  # the next run grades them
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Stopped recording")]
    assert "postgresql+psycopg2://grader:***@127.0.0.1:1/gradebook did not answer" in line and "s3cret" not in line
    assert "2 submissions were not recorded (bo, cy)" in line and "run again once the gradebook answers" in line
    assert "pending" in (tmp_path / "grades.csv").read_text()
    assert {r.student: r.status for r in grader.grade_all([Submission(p.stem, p) for p in files])} == {
        "ann": "unreadable", "bo": PENDING, "cy": PENDING}  # still down: nothing new recorded, nothing lost
    down.clear()  # the database is back
    grader.stopped = None
    reports = grader.grade_all([Submission(p.stem, p) for p in files])  # a plain rerun
    assert [r.status for r in reports] == ["unreadable"] * 3 and recorded_students(course, real_url) == ["ann", "bo", "cy"]


def recorded_students(course, url) -> list[str]:
    """Who has a submission in the course's own gradebook."""
    gradebook = Gradebook(url(course), course_id=course.course_id)
    try:
        return sorted(s.student.id for s in gradebook.find_assignment(course.assignment_id).submissions)
    finally:
        gradebook.close()
