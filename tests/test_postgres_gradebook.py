"""A shared deployment's gradebook: grading writes to a PostgreSQL server named in course.yml."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
import sqlalchemy

from conftest import copy_course, write_corpus
from dvwcourse.inputs import find_submissions
from dvwcourse.nbgrader_api import open_gradebook
from dvwcourse.release import build_release
from dvwcourse.safe_grading import Grader
from dvwcourse.settings import load_course
from dvwcourse.workers import LocalWorkers

pytestmark = pytest.mark.integration  # starts PostgreSQL and kernels



def postgres_tool(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    assert found, f"PostgreSQL's {name} is missing: bin/test installs Debian's postgresql"
    return found


@pytest.fixture
def postgres_url():
    """A throwaway PostgreSQL server on 127.0.0.1, run as the postgres user, with a database 'gradebook'."""
    folder = Path(tempfile.mkdtemp(prefix="dvw-pg-"))
    os.chmod(folder, 0o755)
    shutil.chown(folder, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    as_postgres = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"
    subprocess.run([*as_postgres, postgres_tool("initdb"), "-D", str(data), "--auth=trust", "-U", "postgres"], check=True, capture_output=True)
    subprocess.run([*as_postgres, postgres_tool("pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "log"),
                    "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start"], check=True, capture_output=True)
    try:
        engine = sqlalchemy.create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres", isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("CREATE DATABASE gradebook"))
        engine.dispose()
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/gradebook"
    finally:
        subprocess.run([*as_postgres, postgres_tool("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_grading_writes_scores_to_a_postgresql_gradebook(tmp_path, postgres_url):
    copy_course(tmp_path)
    settings = tmp_path / "course.yml"
    settings.write_text(settings.read_text().replace('gradebook_url: ""', f'gradebook_url: "{postgres_url}"'))
    course = load_course(tmp_path)
    build_release(course)  # nbgrader's generate_assignment records the assignment in PostgreSQL
    write_corpus(course, tmp_path / "incoming", ["correct", "blank"])
    reports = Grader(course).grade_all(find_submissions(course, tmp_path / "incoming"), workers=LocalWorkers(2))
    assert {r.student: r.score for r in reports} == {"blank": 0, "correct": 24}
    with open_gradebook(course) as gradebook:
        assert gradebook.find_submission(course.assignment_id, "correct").score == 24
        assert sorted(s.id for s in gradebook.students) == ["blank", "correct"]
    assert not (tmp_path / "gradebook.db").exists()
