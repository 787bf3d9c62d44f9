"""The course loop through nbgrader's own exchange, as on a JupyterHub: students are real OS users who fetch and
submit; the instructor (root) collects, grades with `dvwcourse grade` and releases feedback; each student fetches it.

As on a hub, the course folder is the instructor's alone (under pytest's tmp_path, which only root may enter); the
exchange and the students' homes are in a folder every user can reach; the course's `exchange` links to the exchange.
"""
from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import nbformat
import pytest
import yaml

from conftest import copy_course, require_root
from dvwcourse.deadlines import read_timestamp_file
from dvwcourse.kernel.sandbox import parent_dirs, python_paths
from dvwcourse.lms_export import read_standings
from dvwcourse.release import build_release
from dvwcourse.samples import sample_notebooks
from dvwcourse.settings import Course, load_course

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
ROLES = ("twice", "ontime", "late")  # hands in the blank release, then a correct notebook; on time; after the due date


@dataclass(frozen=True)
class Account:
    """A student's OS user and home (their nbgrader configuration, their copy of the assignment, their feedback)."""
    name: str
    home: Path


@pytest.fixture
def hub_folder() -> Iterator[Path]:
    """A folder every user can reach, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="dvw-hub-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@pytest.fixture
def students(hub_folder: Path) -> Iterator[dict[str, Account]]:
    """A new OS user per role, with a unique name and a home in `hub_folder`; deleted afterwards."""
    require_root()  # it creates OS users as students
    tag = secrets.token_hex(3)
    accounts: dict[str, Account] = {}
    try:
        for role in ROLES:
            name = f"dvw-{tag}-{role}"
            account = Account(name, hub_folder / "homes" / name)
            subprocess.run(["useradd", "--no-create-home", "--home-dir", str(account.home), "--shell", "/usr/sbin/nologin", name],
                           check=True, capture_output=True)
            accounts[role] = account
            account.home.mkdir(parents=True, mode=0o700)
            shutil.chown(account.home, name, name)
        yield accounts
    finally:
        for account in accounts.values():
            subprocess.run(["userdel", account.name], check=True, capture_output=True)


def configure_student(account: Account, course: Course, exchange: Path) -> None:
    """~/.jupyter/nbgrader_config.py as a hub gives every student: the course id and the shared exchange."""
    config = account.home / ".jupyter" / "nbgrader_config.py"
    config.parent.mkdir(mode=0o700)
    config.write_text(f"c = get_config()\nc.CourseDirectory.course_id = {course.course_id!r}\nc.Exchange.root = {str(exchange)!r}\n")
    for path in (config.parent, config):
        shutil.chown(path, account.name, account.name)


def python_for_everyone() -> list[str]:
    """bwrap arguments under which every user can run this environment's Python: a folder on its way that others may
    not enter (pyenv's in /root on some machines) is replaced by an empty one they may, holding only the Python."""
    args = []
    for path in map(Path, python_paths()):
        closed = next((folder for folder in reversed(path.parents) if not folder.stat().st_mode & stat.S_IXOTH), None)
        if closed is not None:
            args += ["--perms", "0755", "--tmpfs", str(closed), *parent_dirs(path), "--ro-bind", str(path), str(path)]
    return args


def as_student(account: Account, *args: str) -> None:
    """`nbgrader ARGS`, run in the student's home by their OS user (no capabilities), on the machine's own files."""
    env = {"PATH": f"{BIN}{os.pathsep}/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(account.home), "USER": account.name,
           "LOGNAME": account.name}
    become = ["setpriv", f"--reuid={account.name}", f"--regid={account.name}", "--init-groups", "--inh-caps=-all",
              "--bounding-set=-all"]
    command = ["bwrap", "--bind", "/", "/", *python_for_everyone(), "--chdir", str(account.home), "--die-with-parent",
               "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", *become, str(BIN / "nbgrader"), *args]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"{account.name}: nbgrader {' '.join(args)}\n{run.stdout}{run.stderr}"


def as_instructor(course: Course, *args: str) -> str:
    """A command of this environment run by root in the course folder; its output."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    run = subprocess.run([str(BIN / args[0]), *args[1:]], cwd=course.root, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"{' '.join(args)}\n{run.stdout}{run.stderr}"
    return run.stdout + run.stderr


def hand_in(account: Account, course: Course, notebook: nbformat.NotebookNode | None = None) -> None:
    """`nbgrader submit` of the student's copy of the assignment, its notebook first replaced by `notebook`."""
    if notebook is not None:  # written over the fetched file, which stays the student's
        nbformat.write(notebook, account.home / course.assignment_id / f"{course.notebook}.ipynb")
    as_student(account, "submit", course.assignment_id)


def change_settings(root: Path, **sections: dict) -> Course:
    """The course with keys of course.yml sections changed."""
    path = root / "course.yml"
    settings = yaml.safe_load(path.read_text())
    for section, values in sections.items():
        settings[section].update(values)
    path.write_text(yaml.safe_dump(settings))
    return load_course(root)


def set_up_course(root: Path, students: dict[str, Account], exchange: Path) -> Course:
    """The instructor's course: a copy whose roster lists the students, no grace period, `exchange` the hub's;
    released with `dvwcourse release` (which records the assignment in the gradebook)."""
    root.mkdir()
    copy_course(root)
    (root / "roster.csv").write_text("id,first_name,last_name,email,lms_user_id\n" +
                                     "".join(f"{account.name},{role},Student,,\n" for role, account in students.items()))
    (root / "exchange").symlink_to(exchange)
    course = change_settings(root, lms={"roster": "roster.csv"}, late_policy={"grace_minutes": 0})
    build_release(course)
    return course


def test_students_hand_in_and_fetch_their_feedback_through_nbgrader_exchange(tmp_path, hub_folder, students):
    exchange = hub_folder / "exchange"
    exchange.mkdir()
    exchange.chmod(0o1777)  # as a hub's admin creates it: everyone writes, only owners remove
    course = set_up_course(tmp_path / "course", students, exchange)
    samples = sample_notebooks(course)
    as_instructor(course, "nbgrader", "release_assignment", course.assignment_id)
    for account in students.values():
        configure_student(account, course, exchange)
        as_student(account, "fetch_assignment", course.assignment_id)
    hand_in(students["twice"], course)  # the release as fetched: blank
    hand_in(students["twice"], course, samples["correct-student"])
    hand_in(students["ontime"], course, samples["make-data-mistake"])
    due = datetime.now(timezone.utc)  # after the on-time submissions, before the late one
    course = change_settings(course.root, assignment={"due": due.isoformat()})
    hand_in(students["late"], course, samples["correct-student"])

    collected = as_instructor(course, "nbgrader", "collect", course.assignment_id)
    assert "cheating attempt" not in collected  # nbgrader found each submission owned by the user it names
    graded = as_instructor(course, "dvwcourse", "grade")
    assert "Not on the roster" not in graded  # the roster's ids are the students' user names
    as_instructor(course, "nbgrader", "release_feedback", course.assignment_id)
    for account in students.values():
        as_student(account, "fetch_feedback", course.assignment_id)

    standings = {standing.student: standing for standing in read_standings(course)}
    scores = {"twice": (24, 0), "ontime": (22, 0), "late": (24, 2.4)}  # raw score, late penalty (10% per started day)
    for role, account in students.items():
        handed_in = sorted(read_timestamp_file(folder / "timestamp.txt")
                           for folder in (exchange / course.course_id / "inbound").glob(f"{account.name}+*"))
        assert len(handed_in) == (2 if role == "twice" else 1)
        collected_stamp = course.submitted_notebook(account.name).parent / "timestamp.txt"
        assert read_timestamp_file(collected_stamp) == handed_in[-1]  # the latest submission counts
        standing = standings[account.name]
        assert standing.timestamp == handed_in[-1]
        assert standing.seconds_late == pytest.approx(max(0.0, (handed_in[-1] - due.replace(tzinfo=None)).total_seconds()))
        assert (standing.seconds_late > 0) == (role == "late")
        assert (standing.raw_score, standing.late_penalty) == pytest.approx(scores[role])

        fetched = account.home / course.assignment_id / "feedback"
        assert [path.relative_to(fetched) for path in fetched.rglob("*.html")] == \
            [Path(collected_stamp.read_text(), f"{course.notebook}.html")]  # one page: the submission that counted
        page = (course.root / "feedback" / account.name / course.assignment_id / f"{course.notebook}.html").read_text()
        assert (fetched / collected_stamp.read_text() / f"{course.notebook}.html").read_text() == page
        assert f"feedback for {account.name}" in page
        assert not any(other.name in page for other in students.values() if other != account)
