"""course.yml against its schema: defaults, and one clear line per mistake naming the file and the key."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import REPO
from dvwcourse.settings import CourseError, load_course

MINIMAL = {"course_id": "c", "assignment": {"id": "a", "notebook": "nb", "title": "T"}, "points": {"test_x": 2}}


def write(folder: Path, settings: dict) -> Path:
    (folder / "course.yml").write_text(yaml.safe_dump(settings))
    return folder


def error_for(folder: Path, settings: dict) -> str:
    with pytest.raises(CourseError) as raised:
        load_course(write(folder, settings))
    return str(raised.value)


def test_the_course_file_of_this_repository_is_valid():
    course = load_course(REPO)
    assert course.sandbox.cell_seconds == 60 and course.sandbox.required and course.points["test_train_model"] == 3


def test_optional_sections_take_their_defaults(tmp_path):
    course = load_course(write(tmp_path, MINIMAL))
    assert course.sandbox.enabled and course.sandbox.required and course.sandbox.cell_seconds == 60
    assert course.grading_budget == 0.01 and course.benign_stderr_warnings[0] == "UserWarning" and course.gradebook_url == ""


def test_an_unknown_key_is_refused_with_the_keys_allowed_there(tmp_path):
    message = error_for(tmp_path, {**MINIMAL, "sandbox": {"memry_bytes": 10**9}})
    assert message.count("\n") == 0
    assert message.startswith(f"{tmp_path / 'course.yml'}: sandbox.memry_bytes: unknown key (allowed here: enabled, required,")
    assert "memory_bytes" in message


def test_a_missing_key_is_named(tmp_path):
    settings = {**MINIMAL, "assignment": {"id": "a", "notebook": "nb"}}
    assert error_for(tmp_path, settings) == f"{tmp_path / 'course.yml'}: assignment.title: missing (a required setting)"


@pytest.mark.parametrize("section, key, value, allowed", [
    ("sandbox", "max_processes", -3, "greater than or equal to 4"),
    ("limits", "cell_timeout_seconds", "lots", "valid integer"),
    ("budget", "grading", 0, "greater than 0"),
    ("sandbox", "memory_bytes", 1000, "greater than or equal to 500000000"),
])
def test_a_value_out_of_range_names_the_key_and_the_range(tmp_path, section, key, value, allowed):
    message = error_for(tmp_path, {**MINIMAL, section: {key: value}})
    assert message.startswith(f"{tmp_path / 'course.yml'}: {section}.{key}: ") and allowed in message and repr(value) in message


def test_grading_unsandboxed_needs_consent(tmp_path):
    message = error_for(tmp_path, {**MINIMAL, "sandbox": {"enabled": False}})
    assert "sandbox: enabled is false but required is true" in message
    assert not load_course(write(tmp_path, {**MINIMAL, "sandbox": {"enabled": False, "required": False}})).sandbox.enabled


def test_every_problem_gets_its_own_line(tmp_path):
    message = error_for(tmp_path, {**MINIMAL, "limits": {"cell_timeout_seconds": 0}, "typo": 1})
    assert len(message.splitlines()) == 2 and "typo: unknown key" in message and "limits.cell_timeout_seconds" in message


def test_bad_yaml_names_the_file(tmp_path):
    (tmp_path / "course.yml").write_text("course_id: [unclosed\n")
    with pytest.raises(CourseError, match=r"course\.yml: cannot be read as YAML"):
        load_course(tmp_path)
