"""The master bundle and packed submissions: what a Dask worker without the course folder grades from."""
from __future__ import annotations

import pickle
import shutil
from dataclasses import replace

import pytest

from dvwcourse.bundle import PackedSubmission
from dvwcourse.intake import Submission
from dvwcourse.safe_grading import Grader, grader_from_bundle
from dvwcourse.settings import CourseError

MASTER_DATA = {"test_get_num_params": [{"name": "get_num_params(10, 3, 2)", "site": 0, "value": 33}]}


def test_a_worker_rebuilds_the_grader_from_the_bundle_alone(course_copy):
    coordinator = Grader(course_copy)
    coordinator.use_master_data(MASTER_DATA)
    bundle = pickle.loads(pickle.dumps(coordinator.job().bundle()))  # as Dask sends it
    shutil.rmtree(course_copy.root)  # the worker has no course folder
    worker = grader_from_bundle(bundle)
    assert worker.course.root != course_copy.root and worker.course.root.is_dir()
    assert worker.fingerprint == coordinator.fingerprint  # same master, settings, code and isolation
    assert worker.master_data() == MASTER_DATA
    assert worker.max_score == coordinator.max_score
    assert grader_from_bundle(bundle) is worker  # once per worker process and course version


def test_a_worker_with_other_grading_code_refuses(course_copy):
    grader = Grader(course_copy)
    grader.use_master_data(MASTER_DATA)
    with pytest.raises(CourseError, match="install the same dvwcourse"):
        grader_from_bundle(replace(grader.job().bundle(), code_version="older"))


def test_a_packed_submission_unpacks_with_the_same_names_and_digest(tmp_path):
    folder = tmp_path / "submitted"
    folder.mkdir()
    (folder / "nb.ipynb").write_text('{"cells": []}')
    (folder / "data.csv").write_text("1,2\n")
    (folder / "notes.txt").write_text("mine")
    submission = Submission("ann", folder / "nb.ipynb", [folder / "data.csv", folder / "notes.txt"])
    (tmp_path / "worker").mkdir()
    unpacked = pickle.loads(pickle.dumps(PackedSubmission.pack(submission))).unpack(tmp_path / "worker")
    assert unpacked.student == "ann" and unpacked.notebook.read_text() == '{"cells": []}'
    assert sorted(p.name for p in unpacked.files) == ["data.csv", "notes.txt"]
    assert unpacked.digest() == submission.digest()


def test_an_unreadable_submission_is_not_packed(tmp_path):
    with pytest.raises(OSError):
        PackedSubmission.pack(Submission("bo", tmp_path / "missing.ipynb"))
