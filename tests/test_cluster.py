"""Grading on a real Dask cluster (scheduler and two workers on 127.0.0.1) and on local workers.

The workers start in an empty folder and never see the course: they get the master bundle and each
submission's bytes from the grading process, as workers on other machines without a shared disk would.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import copy_course, share_master_run, write_corpus
from waiting import wait_until
from dvwcourse.intake import find_submissions
from dvwcourse.release import build_release
from dvwcourse.safe_grading import Grader
from dvwcourse.settings import load_course
from dvwcourse.workers import DaskWorkers, LocalWorkers

pytestmark = pytest.mark.integration

BATCH = ["correct", "blank", "mistake_make_data", "mistake_train_model"]


def outcome(reports):
    """Status, score and every check's result and message, per student."""
    return {r.student: (r.status, r.score, [(c.grade_id, [(k.name, k.passed, k.message) for k in c.checks]) for c in r.cells])
            for r in reports}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    course = copy_course(root)
    build_release(course)
    write_corpus(course, root / "incoming", BATCH)
    submissions = find_submissions(course, root / "incoming")
    share_master_run(course)
    serial = Grader(course).grade_all(submissions, force=True)
    return course, submissions, outcome(serial)


@pytest.fixture
def cluster(tmp_path):
    """`dask scheduler` and two `dask worker`s (no nanny: a killed worker stays dead; with the preload of docs/dask.md) on loopback, in a
    folder with no course."""
    scheduler_file = tmp_path / "scheduler.json"
    elsewhere = tmp_path / "no-course-here"
    elsewhere.mkdir()
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--no-dashboard", "--scheduler-file", str(scheduler_file)], env=env, cwd=elsewhere,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = []
    try:
        wait_until(lambda: scheduler_file.exists() and scheduler_file.stat().st_size, "the scheduler to write its address")
        for _ in range(2):
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1",
                 "--no-nanny", "--no-dashboard", "--host", "127.0.0.1", "--preload", "dvwcourse.worker_preload"], env=env, cwd=elsewhere,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        address = json.loads(scheduler_file.read_text())["address"]
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address, workers
    finally:
        for process in [*workers, scheduler]:
            process.kill()
            process.wait()


def test_dask_workers_without_the_course_grade_exactly_like_local_grading_even_after_the_course_moved(batch, cluster, tmp_path):
    course, _, serial = batch
    address, _ = cluster
    moved = tmp_path / "course-moved-after-the-workers-started"
    shutil.move(course.root, moved)  # had a worker read the course folder, it would not find it now
    try:
        moved_course = load_course(moved)
        reports = Grader(moved_course).grade_all(find_submissions(moved_course, moved / "incoming"), force=True,
                                                 workers=DaskWorkers(address))
    finally:
        shutil.move(moved, course.root)
    assert outcome(reports) == serial, [r.notes for r in reports]
    assert {r.student: r.score for r in reports} == {"correct": 24, "blank": 0, "mistake_make_data": 22, "mistake_train_model": 21}
    assert all(r.sandboxed for r in reports)


def test_local_workers_grade_exactly_like_serial_grading(batch):
    course, submissions, serial = batch
    reports = Grader(course).grade_all(submissions, force=True, workers=LocalWorkers(2))
    assert outcome(reports) == serial, [r.notes for r in reports]


def test_kernels_whose_json_encoder_is_forged_are_graded_on_dask_recorded_and_not_graded_again(batch, cluster):
    course, _, _ = batch
    address, _ = cluster
    names = ["json_encoder_nesting", "json_encoder_stream"]
    write_corpus(course, course.root / "forged-encoders", names)
    submissions = find_submissions(course, course.root / "forged-encoders")
    reports = Grader(course).grade_all(submissions, workers=DaskWorkers(address))
    assert [(r.student, r.status, r.score) for r in reports] == [("json_encoder_nesting", "incomplete", 0), ("json_encoder_stream", "incomplete", 22)]
    assert all(any("stopped answering in Jupyter's format" in n for n in r.notes) and r.kernels == 1 for r in reports), [r.notes for r in reports]
    assert all(r.skipped for r in Grader(course).grade_all(submissions, workers=DaskWorkers(address)))


def test_a_worker_killed_mid_batch_loses_no_submission(batch, cluster):
    course, submissions, serial = batch
    address, workers = cluster
    killed = []

    def kill_one_worker(_evaluation):
        if not killed:  # the first result is in: the other worker is busy with another submission
            workers[0].send_signal(signal.SIGKILL)
            killed.append(workers[0].pid)

    reports = Grader(course).grade_all(submissions, force=True, workers=DaskWorkers(address), progress=kill_one_worker)
    assert killed
    assert len(reports) == len(BATCH)
    for report in reports:
        assert report.status in ("graded", "error"), report.notes
        if report.status == "graded":
            assert outcome([report])[report.student] == serial[report.student]
        else:
            assert report.notes  # recorded, with its reason
    assert sum(r.status == "graded" for r in reports) >= len(BATCH) - 1
    # A plain rerun on the surviving worker retries what the cluster could not finish, and skips the rest.
    rerun = Grader(course).grade_all(submissions, workers=DaskWorkers(address))
    assert outcome(rerun) == serial
    assert [r.skipped for r in rerun] == [r.status == "graded" for r in reports]
