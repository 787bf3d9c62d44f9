"""A course of several assignments: each command finds the assignment and notebook it works on, the late policy of
each assignment reaches nbgrader's own hook, and results files are named per notebook (issue 24)."""
from __future__ import annotations

import csv
from pathlib import Path

import nbformat

import pytest
import yaml
from nbgrader.preprocessors import AssignLatePenalties

from conftest import copy_course, require_sandbox
from course_fixtures import copy_fixture_source, fixture_entry, fixture_samples, new_master, nbgrader_cell
from test_cluster import cluster  # noqa: F401  (the Dask cluster fixture)
from dvwcourse.cells import graded_cells, points
from dvwcourse.cli import chosen_assignments, for_view, main, split_assignment, view_of_notebook
from dvwcourse.deadlines import late_plugin
from dvwcourse.intake import find_submissions
from dvwcourse.nbgrader_api import course_config, open_gradebook
from dvwcourse.release import sync_points
from dvwcourse.safe_grading import Grader
from dvwcourse.samples import fill_answers, read_sample_answers, sample_answers
from dvwcourse.settings import Course, CourseError, load_course

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


# -- a course of two assignments, graded end to end ------------------------------------------------------------------
# The shipped assignment and the fixture authored from docs/authoring.md (tests/fixtures/random_features), in one
# course folder and one gradebook.
SECOND = "random_features"
EXPECTED_CELLS = ("test_random_features", "test_fit_readout", "test_feature_sweep")  # 2, 3 and 3 points
SECOND_SCORES = {"ada": 8.0, "bob": 6.0}  # of 8 automatic points: ReLU for tanh costs Exercise 1 alone


def make_course_of_two(root: Path) -> Course:
    """The repository's course copied into `root`, its course.yml turned into the `assignments:` form with the
    fixture as the second assignment."""
    copy_course(root)
    copy_fixture_source(root, SECOND)
    settings = yaml.safe_load((root / "course.yml").read_text())
    single, points = settings.pop("assignment"), settings.pop("points")
    settings["assignments"] = [{**single, "points": points}, fixture_entry(SECOND)]
    (root / "course.yml").write_text(yaml.safe_dump(settings, sort_keys=False))
    return load_course(root)


def hand_in(course: Course, student: str, answers: dict[str, str]) -> None:
    """`answers` filled into the release, as nbgrader's submitted/<student>/<assignment>/<notebook>.ipynb."""
    path = course.submitted_notebook(student)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(fill_answers(nbformat.read(course.release_notebook, as_version=4), answers, "test"), path)


@pytest.fixture(scope="module")
def graded_two(tmp_path_factory):
    """Released and graded with `dvwcourse grade` on local workers: ada hands in both, bob only the second, with
    one plausible mistake."""
    root = tmp_path_factory.mktemp("two-assignments")
    make_course_of_two(root)
    require_sandbox()
    assert main(["--course", str(root), "release"]) == 0
    first, second = load_course(root), load_course(root, SECOND)
    hand_in(first, "ada", sample_answers(first, "alternative_solutions"))
    rf_samples = fixture_samples(SECOND)
    right = read_sample_answers(rf_samples / "alternative_solutions.py")
    hand_in(second, "ada", right)
    hand_in(second, "bob", {**right, **read_sample_answers(rf_samples / "mistakes.py")})
    status = main(["--course", str(root), "grade", "--workers", "2", "--csv", str(root / "grading-results.csv")])
    return first, second, status


def gradebook_scores(course: Course) -> dict[str, float]:
    with open_gradebook(course) as gradebook:
        return {s.student.id: s.score for s in gradebook.find_assignment(course.assignment_id).submissions}


@pytest.mark.integration
def test_both_assignments_are_graded_into_one_gradebook_with_results_per_assignment_and_a_course_page(graded_two):
    first, second, status = graded_two
    root = first.root
    assert status == 0
    assert gradebook_scores(first) == {"ada": 24.0}  # written answers wait for a TA
    assert gradebook_scores(second) == {"ada": SECOND_SCORES["ada"], "bob": SECOND_SCORES["bob"]}
    for assignment in (first.assignment_id, SECOND):
        assert (root / f"grading-results-{assignment}.csv").is_file() and (root / f"class-report-{assignment}.html").is_file()
    assert not (root / "grading-results.csv").exists()
    page = (root / "class-report.html").read_text()
    assert "Course report: nma-neuroai-w2d1" in page
    assert 'href="class-report-depth_vs_width.html"' in page and f'href="class-report-{SECOND}.html"' in page
    rows = {row.split("</td>")[0]: row for row in page.split("<tr><td>")[1:]}
    assert rows["bob"].count("not submitted") == 1 and ">6</td>" in rows["bob"]  # bob: only the second, 6 points
    assert "not submitted" not in rows["ada"] and "<td>32</td>" in rows["ada"]  # ada: 24 + 8
    # Each student's feedback page sits under its assignment, as nbgrader lays feedback out.
    assert (root / "feedback" / "bob" / SECOND / f"{SECOND}.html").is_file()
    assert not (root / "feedback" / "bob" / first.assignment_id).exists()


@pytest.mark.integration
def test_the_second_assignments_master_and_stub_validate_and_each_sample_loses_only_its_mistake(graded_two, capsys):
    first, second, _ = graded_two
    root = str(first.root)
    assert main(["--course", root, "validate", SECOND, str(second.source_notebook)]) == 0
    assert "OK (8 / 8)" in capsys.readouterr().out
    assert main(["--course", root, "validate", str(second.release_notebook)]) == 1  # found by its name
    assert "FAILED (0 / 8)" in capsys.readouterr().out
    with open(first.root / f"grading-results-{SECOND}.csv", newline="") as results:
        scores = {row["student"]: {key: float(row[key]) for key in EXPECTED_CELLS} for row in csv.DictReader(results)}
    assert scores == {"ada": {"test_random_features": 2.0, "test_fit_readout": 3.0, "test_feature_sweep": 3.0},
                      "bob": {"test_random_features": 0.0, "test_fit_readout": 3.0, "test_feature_sweep": 3.0}}


@pytest.mark.integration
def test_the_lms_files_have_one_column_per_assignment(graded_two, tmp_path):
    first, second, _ = graded_two
    root = first.root
    assert main(["--course", str(root), "export", "--format", "canvas", "--to", str(tmp_path / "canvas.csv")]) == 0
    assert main(["--course", str(root), "export", "--format", "moodle", "--to", str(tmp_path / "moodle.csv")]) == 0
    canvas = list(csv.reader((tmp_path / "canvas.csv").open()))
    assert canvas[0][-2:] == [first.title, second.title]
    rows = {row[2]: row[-2:] for row in canvas[1:]}
    assert rows["ada"] == ["24", f"{SECOND_SCORES['ada']:g}"] and rows["bob"] == ["0", f"{SECOND_SCORES['bob']:g}"]
    moodle = list(csv.reader((tmp_path / "moodle.csv").open()))
    assert moodle[0][-2:] == [f"Assignment: {first.title} (Real)", f"Assignment: {second.title} (Real)"]
    assert main(["--course", str(root), "export", SECOND, "--format", "canvas", "--to", str(tmp_path / "one.csv")]) == 0
    assert next(csv.reader((tmp_path / "one.csv").open()))[-1] == second.title  # only the assignment named


@pytest.mark.integration
def test_grading_or_changing_one_assignment_never_invalidates_the_other(graded_two):
    first, second, _ = graded_two
    before = Grader(first).fingerprint
    settings = yaml.safe_load((first.root / "course.yml").read_text())
    settings["assignments"][1]["points"]["test_fit_readout"] += 1  # the second assignment's points change
    (first.root / "course.yml").write_text(yaml.safe_dump(settings, sort_keys=False))
    try:
        first_again = load_course(first.root)
        assert Grader(first_again).fingerprint == before
        [report] = Grader(first_again).grade_all(find_submissions(first_again))
        assert report.skipped and report.score == 24.0
    finally:
        settings["assignments"][1]["points"]["test_fit_readout"] -= 1
        (first.root / "course.yml").write_text(yaml.safe_dump(settings, sort_keys=False))


@pytest.mark.integration
def test_the_second_assignment_grades_alike_on_dask_and_with_stock_nbgrader(graded_two, cluster, tmp_path):
    first, second, _ = graded_two
    root = first.root
    address, _ = cluster
    assert main(["--course", str(root), "grade", SECOND, "--force", "--scheduler", address,
                 "--csv", str(tmp_path / "dask.csv")]) == 0
    assert gradebook_scores(second) == SECOND_SCORES
    assert (tmp_path / f"dask-{SECOND}.csv").is_file()
    assert main(["--course", str(root), "grade", SECOND, "--engine", "nbgrader", "--csv", str(tmp_path / "stock.csv")]) == 0
    assert gradebook_scores(second) == SECOND_SCORES  # nbgrader's own autograde agrees
    assert gradebook_scores(first) == {"ada": 24.0}  # and the first assignment's scores stand


def two_notebook_masters(root: Path, second_test: str) -> Course:
    """Assignment b's masters, one.ipynb (test_y) and two.ipynb (`second_test`), with points 0 in the notebooks."""
    for name, test in (("one", "test_y"), ("two", second_test)):
        folder = root / "source" / "b"
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(new_master([nbgrader_cell("answer", f"answer_{name}", "x = 1"),
                                   nbgrader_cell("test", test, "assert x == 1", points=0)]), folder / f"{name}.ipynb")
    return load_course(root, "b")


def test_release_prices_every_notebook_of_an_assignment_and_refuses_a_grade_id_in_two(two):
    settings = yaml.safe_load((two.root / "course.yml").read_text())
    settings["assignments"][1]["points"] = {"test_y": 1, "test_z": 3}
    (two.root / "course.yml").write_text(yaml.safe_dump(settings))
    sync_points(two_notebook_masters(two.root, "test_z"))
    written = {name: graded_cells(nbformat.read(two.root / "source" / "b" / f"{name}.ipynb", as_version=4))
               for name in ("one", "two")}
    assert {name: {gid: points(cell) for gid, cell in cells.items()} for name, cells in written.items()} == {
        "one": {"test_y": 1}, "two": {"test_z": 3}}
    with pytest.raises(CourseError, match=r"no such cell: \['test_z'\]; cells without points: \[\]; "
                                          r"in more than one notebook of b: \['test_y'\]\)"):
        sync_points(two_notebook_masters(two.root, "test_y"))  # two.ipynb now repeats one.ipynb's test
