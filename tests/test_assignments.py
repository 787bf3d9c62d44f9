"""A course of several assignments: each command finds the assignment and notebook it works on, the late policy of
each assignment reaches nbgrader's own hook, and results files are named per notebook (issue 24)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from nbgrader.preprocessors import AssignLatePenalties

from dvwcourse.cli import chosen_assignments, for_view, split_assignment, view_of_notebook
from dvwcourse.deadlines import late_plugin
from dvwcourse.nbgrader_api import course_config
from dvwcourse.settings import CourseError, load_course

TWO = {
    "course_id": "c",
    "late_policy": {"rule": "per_day", "deduct": 0.1},
    "assignments": [
        {"id": "a", "title": "A", "notebook": "nb", "points": {"test_x": 2}},
        {"id": "b", "title": "B", "notebooks": ["one", "two"], "points": {"test_y": 1},
         "late_policy": {"rule": "zero"}},
    ],
}


@pytest.fixture
def two(tmp_path: Path):
    (tmp_path / "course.yml").write_text(yaml.safe_dump(TWO))
    (tmp_path / "nbgrader_config.py").write_text((Path(__file__).parent.parent / "nbgrader_config.py").read_text())
    return load_course(tmp_path)


def test_a_first_word_naming_an_assignment_is_the_assignment_and_the_rest_are_paths(two):
    assert split_assignment(two, ["b", "x.zip"]) == ("b", ["x.zip"])
    assert split_assignment(two, [Path("x.zip")]) == (None, ["x.zip"])
    assert split_assignment(two, []) == (None, [])
    assert chosen_assignments(two, None) == ["a", "b"] and chosen_assignments(two, "b") == ["b"]
    with pytest.raises(CourseError, match=r"no assignment 'z' in .*course.yml \(it has a, b\)"):
        chosen_assignments(two, "z")


def test_a_notebook_to_validate_is_the_course_notebook_of_its_name_or_the_assignments_only_one(two):
    assert view_of_notebook(two, None, Path("somewhere/two.ipynb")).label == "b/two"
    assert view_of_notebook(two, "a", Path("renamed copy.ipynb")).label == "a"  # a has one notebook
    with pytest.raises(CourseError, match=r"renamed.ipynb: which notebook of the course is this\? .* \(a, b/one, b/two\)"):
        view_of_notebook(two, None, Path("renamed.ipynb"))


def test_results_files_carry_the_notebook_label_only_when_the_course_has_several(two):
    b_two = load_course(two.root, "b", "two")
    assert for_view(Path("out/class-report.html"), b_two, True) == Path("out/class-report-b-two.html")
    assert for_view(Path("grading-results.csv"), two, True) == Path("grading-results-a.csv")
    assert for_view(Path("grading-results.csv"), two, False) == Path("grading-results.csv")


def test_each_assignments_late_policy_reaches_nbgraders_hook(two):
    config = course_config(two)
    plugins = {}
    for name in ("a", "b"):  # as nbgrader's preprocessor makes its plugin: itself the parent, holding the assignment
        preprocessor = AssignLatePenalties(config=config)
        preprocessor.assignment_id = name
        preprocessor.init_plugin()
        plugins[name] = preprocessor.plugin_inst
    assert plugins["a"].late_submission_penalty("s", 10.0, 3600) == pytest.approx(1.0)  # a day started: 10 %
    assert plugins["b"].late_submission_penalty("s", 10.0, 3600) == 10.0  # b: late is zero
    # Our own commands name the assignment themselves.
    assert late_plugin(load_course(two.root, "b")).late_submission_penalty("s", 10.0, 3600) == 10.0
    assert late_plugin(two).late_submission_penalty("s", 10.0, 3600) == pytest.approx(1.0)
