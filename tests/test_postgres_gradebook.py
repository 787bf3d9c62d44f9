"""A shared deployment's gradebook: grading writes to a PostgreSQL server named in course.yml."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from types import SimpleNamespace
from pathlib import Path

import pytest
import sqlalchemy

from conftest import answering_only, auto_points, copy_course, right_answers, share_master_run, write_corpus
import dvwcourse.nbgrader_api as nbgrader_api
from dvwcourse.batch_stop import GradebookUnavailable
from dvwcourse.intake import find_submissions
from dvwcourse.nbgrader_api import open_gradebook
from dvwcourse.release import build_release
from dvwcourse.records import PENDING
from dvwcourse.safe_grading import Grader
from dvwcourse.settings import load_course
from dvwcourse.workers import LocalWorkers

pytestmark = pytest.mark.integration  # starts PostgreSQL and kernels



def postgres_tool(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    assert found, f"PostgreSQL's {name} is missing: bin/test installs Debian's postgresql"
    return found


class PostgresServer:
    """A throwaway PostgreSQL server on 127.0.0.1, run as the postgres user, with a database 'gradebook'."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="dvw-pg-"))
        os.chmod(self.folder, 0o755)
        shutil.chown(self.folder, "postgres")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.data = self.folder / "data"
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/gradebook"
        subprocess.run([*AS_POSTGRES, postgres_tool("initdb"), "-D", str(self.data), "--auth=trust", "-U", "postgres"], check=True, capture_output=True)
        self.start()
        engine = sqlalchemy.create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres", isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("CREATE DATABASE gradebook"))
        engine.dispose()

    def start(self) -> None:
        subprocess.run([*AS_POSTGRES, postgres_tool("pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.folder / "log"),
                        "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1", "start"], check=True, capture_output=True)

    def stop(self) -> None:
        """As a crash or a restart does: every connection dropped at once."""
        subprocess.run([*AS_POSTGRES, postgres_tool("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"], capture_output=True)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


AS_POSTGRES = ["runuser", "-u", "postgres", "--"]


@pytest.fixture
def postgres():
    server = PostgresServer()
    try:
        yield server
    finally:
        server.remove()


def postgres_course(folder: Path, url: str, names: list[str]):
    copy_course(folder)
    settings = folder / "course.yml"
    settings.write_text(settings.read_text().replace('gradebook_url: ""', f'gradebook_url: "{url}"'))
    course = load_course(folder)
    build_release(course)  # nbgrader's generate_assignment records the assignment in PostgreSQL
    write_corpus(course, folder / "incoming", names)
    share_master_run(course)
    return course


def test_grading_writes_scores_to_a_postgresql_gradebook(tmp_path, postgres):
    course = postgres_course(tmp_path, postgres.url, ["correct", "blank"])
    reports = Grader(course).grade_all(find_submissions(course, tmp_path / "incoming"), workers=LocalWorkers(2))
    assert {r.student: r.score for r in reports} == {"blank": 0, "correct": 24}
    with open_gradebook(course) as gradebook:
        assert gradebook.find_submission(course.assignment_id, "correct").score == 24
        assert sorted(s.id for s in gradebook.students) == ["blank", "correct"]
    assert not (tmp_path / "gradebook.db").exists()


def test_a_postgresql_server_that_restarts_mid_batch_is_waited_for_and_one_that_stays_down_stops_the_batch_cleanly(
        tmp_path, postgres, monkeypatch):
    course = postgres_course(tmp_path, postgres.url, ["blank"])
    # Two more that answer a cell or two (this is about the gradebook's writes: no training to pay for).
    answered = {"ann": ["get_num_params", "make_data"], "cat": ["get_num_params"]}
    for student, grade_ids in answered.items():
        (tmp_path / "incoming" / f"{student}.ipynb").write_bytes(answering_only(course, right_answers(course, *grade_ids)))
    expected = {"blank": 0, **{student: auto_points(course, *grade_ids) for student, grade_ids in answered.items()}}
    submissions = find_submissions(course, tmp_path / "incoming")
    grader = Grader(course)
    grader.master_data()

    def down_after_first(evaluation):  # the server goes down right after a submission is recorded ...
        if evaluation.report.student == submissions[0].student:
            postgres.stop()

    waits = []  # ... and is back once the grader has waited for it once: the next write must be retried to succeed

    def wait_then_restart(seconds: float) -> None:
        waits.append(seconds)
        postgres.start()
        time.sleep(seconds)

    monkeypatch.setattr(nbgrader_api, "time", SimpleNamespace(sleep=wait_then_restart))
    reports = grader.grade_all(submissions, force=True, workers=LocalWorkers(1), progress=down_after_first)
    assert {r.student: r.score for r in reports} == expected and grader.stopped is None
    assert waits == [nbgrader_api.RETRY_DELAYS[0]]  # one failed write, waited for, then recorded
    monkeypatch.undo()

    monkeypatch.setattr(nbgrader_api, "RETRY_DELAYS", (0.5, 1.0))  # a server that stays down: the batch stops
    stay_down = lambda evaluation: evaluation.report.student == submissions[0].student and postgres.stop()
    reports = grader.grade_all(submissions, force=True, workers=LocalWorkers(1), progress=stay_down)
    assert [r.status for r in reports] == ["graded", PENDING, PENDING]
    assert isinstance(grader.stopped, GradebookUnavailable) and f"127.0.0.1:{postgres.port}/gradebook did not answer" in str(grader.stopped)
    postgres.start()
    grader.stopped = None
    rerun = grader.grade_all(submissions, workers=LocalWorkers(1))  # a plain rerun completes it
    assert [r.skipped for r in rerun] == [True, False, False] and [r.status for r in rerun] == ["graded"] * 3
    with open_gradebook(course) as gradebook:
        assert {s.student.id: s.score for s in gradebook.assignment_submissions(course.assignment_id)} == expected
