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


# -- several assignments ---------------------------------------------------------------------------------------------
COURSE_OF_TWO = {
    "course_id": "c",
    "late_policy": {"rule": "per_day", "deduct": 0.1, "grace_minutes": 15},
    "budget": {"env_var": "B", "grading": 0.01},
    "lms": {"extensions": "ext.csv", "canvas_assignment_id": "1"},
    "assignments": [
        {"id": "a", "title": "A", "notebook": "nb", "due": "2026-12-04T17:00:00+01:00", "points": {"test_x": 2}},
        {"id": "b", "title": "B", "notebooks": ["one", "two"], "points": {"test_y": 1, "test_z": 3},
         "late_policy": {"rule": "per_hour", "deduct": 0.5, "unit": "points"}, "budget": {"grading": 0.05},
         "extensions": "", "canvas_assignment_id": "2"},
    ],
}


def test_each_assignment_is_seen_with_its_own_settings_and_the_course_wide_ones_elsewhere(tmp_path):
    write(tmp_path, COURSE_OF_TWO)
    a, b, two = load_course(tmp_path), load_course(tmp_path, "b"), load_course(tmp_path, "b", "two")
    assert (a.assignment_id, a.notebook, a.notebooks, a.assignment_ids) == ("a", "nb", ("nb",), ("a", "b"))
    assert a.points == {"test_x": 2} and a.due.isoformat() == "2026-12-04T17:00:00+01:00"
    assert (a.late_policy.rule, a.late_policy.grace_minutes, a.grading_budget, a.budget_env_var) == ("per_day", 15, 0.01, "B")
    assert (a.extensions_csv, a.canvas_assignment_id) == (tmp_path / "ext.csv", "1")
    assert (b.notebook, two.notebook, b.notebooks, b.points) == ("one", "two", ("one", "two"), {"test_y": 1, "test_z": 3})
    # An override replaces the keys it gives; the others stay the course's.
    assert (b.late_policy.rule, b.late_policy.deduct, b.late_policy.unit, b.late_policy.grace_minutes) == ("per_hour", 0.5, "points", 15)
    assert (b.grading_budget, b.budget_env_var, b.due, b.extensions_csv, b.canvas_assignment_id) == (0.05, "B", None, None, "2")
    assert a.state_dir != b.state_dir != two.state_dir and a.tools_dir == b.tools_dir  # one lock, state per notebook
    assert (a.label, b.label, two.label) == ("a", "b/one", "b/two")


def test_an_assignment_or_notebook_the_course_lacks_is_named_with_those_it_has(tmp_path):
    write(tmp_path, COURSE_OF_TWO)
    with pytest.raises(CourseError, match=r"no assignment 'c' \(the course has a, b\)"):
        load_course(tmp_path, "c")
    with pytest.raises(CourseError, match=r"assignment b has no notebook 'nb' \(it has one, two\)"):
        load_course(tmp_path, "b", "nb")


@pytest.mark.parametrize("change, expected", [
    (lambda s: s.update(assignment=MINIMAL["assignment"]), "give either assignment (with points) or assignments"),
    (lambda s: s.update(points={"test_x": 1}), "points: with `assignments:`, each assignment has its own points"),
    (lambda s: s["assignments"][1].update(id="a"), "assignments: ids must be there and different (got ['a', 'a'])"),
    (lambda s: s["assignments"][0].pop("points"), "assignments: a: points: missing"),
    (lambda s: s["assignments"][0].update(notebooks=["x"]), "give either notebook (one) or notebooks (a list)"),
    (lambda s: s["assignments"][1].update(notebooks=["one", "one"]), "notebooks must list at least one notebook, each once"),
    (lambda s: s["assignments"][1]["late_policy"].update(deduct=2.0, unit="fraction"),
     "assignments: b: late_policy: deduct and cap are fractions of the score (0 to 1) when unit is fraction"),
    (lambda s: s["assignments"][1]["budget"].update(grading=0), "assignments: b: budget: grading: Input should be greater than 0"),
    (lambda s: s["assignments"][1]["late_policy"].update(rules="none"), "assignments: b: late_policy: rules: Extra inputs are not permitted"),
])
def test_a_mistake_in_the_list_of_assignments_is_one_line_naming_it(tmp_path, change, expected):
    settings = yaml.safe_load(yaml.safe_dump(COURSE_OF_TWO))
    change(settings)
    message = error_for(tmp_path, settings)
    assert expected in message and message.count("\n") == 0, message


def test_the_single_assignment_form_refuses_what_belongs_to_a_list_entry(tmp_path):
    settings = {**MINIMAL, "assignment": {**MINIMAL["assignment"], "late_policy": {"rule": "none"}}}
    assert "assignment: late_policy belong to entries of `assignments:`" in error_for(tmp_path, settings)
    assert "points: missing" in error_for(tmp_path, {k: v for k, v in MINIMAL.items() if k != "points"})
