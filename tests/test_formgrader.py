"""TAs in nbgrader's formgrader, on a course graded by `dvwcourse`: Jupyter Server with the formgrader, a
submission's manual-grading page in headless Chromium, a score and a comment typed on a written answer, both
found in the gradebook, and both kept by a regrade; and the course's two assignments listed."""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import pytest

from conftest import require_sandbox, share_master_run
from dvwcourse.intake import find_submissions
from dvwcourse.nbgrader_api import open_gradebook
from dvwcourse.release import build_release
from dvwcourse.safe_grading import Grader
from dvwcourse.samples import sample_notebooks
from dvwcourse.settings import load_course
from headless_chromium import Chromium
from test_assignments import SECOND, make_course_of_two

pytestmark = pytest.mark.integration

STUDENT = "ada"
WRITTEN = "discussion_zero_loss"  # a written answer the correct sample answers, graded by hand


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("formgrader")
    make_course_of_two(root)
    require_sandbox()
    course = load_course(root)
    build_release(course)
    build_release(load_course(root, SECOND))
    (root / "incoming").mkdir()
    nbformat.write(sample_notebooks(course)["correct-student"], root / "incoming" / f"{STUDENT}.ipynb")
    submissions = find_submissions(course, root / "incoming")
    share_master_run(course)
    [report] = Grader(course).grade_all(submissions)
    assert report.status == "graded", report.notes
    return course, submissions


@pytest.fixture(scope="module")
def server(graded):
    course, _ = graded
    token, port = secrets.token_hex(16), free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", f"--ServerApp.token={token}", f"--port={port}", "--ip=127.0.0.1",
         "--no-browser", "--ServerApp.open_browser=False", f"--ServerApp.root_dir={course.root}", "--allow-root"],
        cwd=course.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                api(base, token, f"/formgrader/api/submitted_notebooks/{course.assignment_id}/{course.notebook}")
                break
            except OSError:
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "Jupyter Server with the formgrader did not answer in 60 s"
                time.sleep(0.5)
        yield base, token
    finally:
        process.terminate()
        process.wait(timeout=30)


def api(base: str, token: str, path: str):
    request = urllib.request.Request(base + path, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def manual_grade(course, student: str) -> tuple[float | None, str | None]:
    with open_gradebook(course) as gradebook:
        grade = gradebook.find_grade(WRITTEN, course.notebook, course.assignment_id, student)
        comment = gradebook.find_comment(WRITTEN, course.notebook, course.assignment_id, student)
        return grade.manual_score, comment.manual_comment


def test_a_ta_grades_a_written_answer_in_formgrader_and_a_regrade_keeps_it(graded, server):
    course, submissions = graded
    base, token = server
    listed = api(base, token, f"/formgrader/api/submitted_notebooks/{course.assignment_id}/{course.notebook}")
    [submission] = [s for s in listed if s["student"] == STUDENT]
    assert submission["needs_manual_grade"]
    assert manual_grade(course, STUDENT) == (None, None)

    browser = Chromium()
    try:
        browser.send("Page.enable")
        # The page asks a CDN for MathJax; with no network its load event (which starts formgrader) would wait for
        # it. Every https request fails at once instead (the server is plain http on loopback). Without MathJax,
        # formgrader's start stops after loading grades and comments (its scrolling setup needs MathJax): the score
        # and comment boxes work, as they do for a TA whose browser cannot reach the CDN.
        browser.send("Network.enable")
        browser.send("Network.setBlockedURLs", {"urls": ["https://*"]})
        # A TA opens the manual-grading page and logs in with the server's token on Jupyter's login page.
        page = f"/formgrader/submissions/{submission['id']}/?index=0"
        browser.send("Page.navigate", {"url": f"{base}/login?next={urllib.parse.quote(page)}"})
        browser.wait_for("document.readyState === 'complete' && document.getElementById('password_input') !== null")
        browser.type_into("#password_input", token)
        browser.evaluate("document.getElementById('password_input').form.submit()")
        browser.wait_for("window.formgrader && formgrader.grades && formgrader.grades.loaded && formgrader.comments.loaded")
        assert browser.evaluate(f"document.getElementById('{WRITTEN}') !== null")  # the written answer's score box
        browser.type_into(f"#{WRITTEN}", "1.5")
        browser.type_into(f"#{WRITTEN}-comment", "Clear argument; name the cost in parameters too.")
        deadline = time.monotonic() + 30
        while manual_grade(course, STUDENT) != (1.5, "Clear argument; name the cost in parameters too."):
            assert time.monotonic() < deadline, f"formgrader did not save both: {manual_grade(course, STUDENT)}"
            time.sleep(0.3)
    finally:
        browser.close()

    [report] = Grader(course).grade_all(submissions, force=True)  # a regrade
    assert report.status == "graded" and not report.skipped
    assert manual_grade(course, STUDENT) == (1.5, "Clear argument; name the cost in parameters too.")
    with open_gradebook(course) as gradebook:
        assert gradebook.find_submission(course.assignment_id, STUDENT).score == report.score + 1.5


def test_formgrader_lists_both_assignments_of_the_course(graded, server):
    course, _ = graded
    base, token = server
    assert {a["name"] for a in api(base, token, "/formgrader/api/assignments")} == {course.assignment_id, SECOND}
    browser = Chromium()
    try:
        browser.send("Page.enable")
        browser.send("Network.enable")
        browser.send("Network.setBlockedURLs", {"urls": ["https://*"]})  # no CDN here (see above)
        page = "/formgrader/manage_assignments"
        browser.send("Page.navigate", {"url": f"{base}/login?next={urllib.parse.quote(page)}"})
        browser.wait_for("document.readyState === 'complete' && document.getElementById('password_input') !== null")
        browser.type_into("#password_input", token)
        browser.evaluate("document.getElementById('password_input').form.submit()")
        # The table of assignments, as a TA sees it: filled in by formgrader's script from its API.
        browser.wait_for(f"document.body && document.body.innerText.includes('{SECOND}') "
                         f"&& document.body.innerText.includes('{course.assignment_id}')")
    finally:
        browser.close()
