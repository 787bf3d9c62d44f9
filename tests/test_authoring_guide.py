"""docs/authoring.md's worked example runs: its cells, built into a course, release and validate as the guide says,
and every refusal it quotes is checkspec's own message for the broken cell it shows (so the guide cannot drift)."""
from __future__ import annotations

import ast
import inspect
import re
import types
from pathlib import Path

import nbformat
import pytest

from conftest import require_sandbox
from course_fixtures import REPO, new_master, nbgrader_cell, shipped_cell, write_single_course
from dvwcourse import checkspec, cli
from dvwcourse.checkspec import library_sources, master_test_cells, module_names, parse_test_cell
from dvwcourse.settings import CourseError
from dvwcourse.trusted_tests import strip_magics

GUIDE = REPO / "docs" / "authoring.md"
MARKER = re.compile(r"^<!-- (cell|refused|output): ([^>]*?) -->\n", re.MULTILINE)
FENCE = re.compile(r"\A\s*```(\w+)\n(.*?)\n```", re.DOTALL)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """Consecutive fenced blocks at the start of `text`: (language, code)."""
    blocks = []
    while match := FENCE.match(text):
        blocks.append((match.group(1), match.group(2)))
        text = text[match.end():]
    return blocks


def guide_markers() -> list[tuple[str, list[str], list[tuple[str, str]]]]:
    """Every marker of the guide: its kind, its words, and the fenced blocks right after it."""
    text = GUIDE.read_text(encoding="utf-8")
    return [(m.group(1), m.group(2).split(), fenced_blocks(text[m.end():])) for m in MARKER.finditer(text)]


def guide_cells() -> list[nbformat.NotebookNode]:
    cells = []
    for kind, words, blocks in guide_markers():
        if kind != "cell":
            continue
        cell_kind, cell_id, *options = words
        if cell_kind == "copy":  # a helper cell of the shipped master, copied unchanged
            cells.append(shipped_cell(cell_id))
            continue
        points = dict(o.split("=") for o in options).get("points")
        cells.append(nbgrader_cell(cell_kind, cell_id, blocks[0][1], float(points) if points else None))
    return cells


def refusals() -> list[tuple[str, str, str]]:
    """(grade_id, broken test cell, quoted message) for every refusal the guide shows."""
    return [(words[0], blocks[0][1], blocks[1][1]) for kind, words, blocks in guide_markers() if kind == "refused"]


def guide_output(name: str) -> str:
    return next(blocks[0][1] for kind, words, blocks in guide_markers() if kind == "output" and " ".join(words) == name)


def library_names() -> set[str]:
    nb = new_master(guide_cells())
    return set().union(*(module_names(ast.parse(strip_magics(s))) for s in library_sources(nb)))


# -- fast: the guide's example is well formed and its quoted refusals are checkspec's ---------------------------

def test_the_example_has_every_kind_of_cell_and_passes_the_checkspec():
    cells = guide_cells()
    kinds = [(c.cell_type, c.metadata["nbgrader"]["grade"], c.metadata["nbgrader"]["solution"]) for c in cells]
    assert ("code", True, False) in kinds and ("code", False, True) in kinds and ("markdown", True, True) in kinds
    test = next(c for c in cells if c.id == "test_relative_error")
    parsed = parse_test_cell("test_relative_error", test.source, 2, library_names())
    assert parsed.required == {"relative_error"}
    assert [s.hidden for s in parsed.sites.values()] == [False, False, True]  # two visible checks, one hidden


@pytest.mark.parametrize("index", range(8))
def test_each_quoted_refusal_is_what_checkspec_says(index):
    grade_id, source, quoted = refusals()[index]
    with pytest.raises(CourseError) as refused:
        parse_test_cell(grade_id, source, 2, library_names())
    assert str(refused.value) == quoted


def test_the_guide_quotes_every_refusal_of_a_test_cell():
    # Each message that parse_test_cell and _check_contract can raise (but Python's own SyntaxError), by its longest
    # literal part: a refusal added to checkspec fails here until the guide shows it.
    quoted = [message for _, _, message in refusals()]
    assert len(quoted) == 8
    for function in (checkspec.parse_test_cell, checkspec._check_contract):
        for node in ast.walk(ast.parse(inspect.getsource(function).strip())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.func.id == "CourseError":
                message = node.exc.args[0]
                literals = [v.value for v in getattr(message, "values", []) if isinstance(v, ast.Constant)]
                if literals == [": "]:  # f"{where}: {error}", a SyntaxError in the cell
                    continue
                longest = max(literals, key=len)
                assert any(longest in q for q in quoted), f"the guide does not show the refusal {longest!r}"


def test_a_library_without_compare_and_as_plain_is_refused_as_quoted():
    stand_in = types.SimpleNamespace(root=Path("/path/to/course"), points={"test_relative_error": 2},
                                     source_notebook=Path("/path/to/course/source/relative_error/relative_error.ipynb"))
    with pytest.raises(CourseError) as refused:
        master_test_cells(stand_in, new_master(guide_cells()), library_names() - {"compare", "as_plain"})
    assert f"```text\n{refused.value}\n```" in GUIDE.read_text()


def test_a_test_cell_without_points_is_refused_as_quoted(tmp_path):
    nb = new_master(guide_cells())
    stand_in = types.SimpleNamespace(root=Path("/path/to/course"), points={"discussion_relative_error": 1})
    with pytest.raises(CourseError) as refused:
        master_test_cells(stand_in, nb, library_names())
    text = GUIDE.read_text()
    assert f"```text\n{refused.value}\n```" in text


# -- release and validate, from the course folder ----------------------------------------------

@pytest.fixture
def example_folder(tmp_path, monkeypatch) -> Path:
    """A course folder holding only the guide's example, with today's single-assignment course.yml."""
    root = tmp_path / "course"
    write_single_course(root, "authoring-guide", "relative_error", "relative_error", "Relative error",
                        {"test_relative_error": 2, "discussion_relative_error": 1})
    (root / "source" / "relative_error").mkdir(parents=True)
    nbformat.write(new_master(guide_cells()), root / "source" / "relative_error" / "relative_error.ipynb")
    monkeypatch.chdir(root)  # the guide runs its commands from the course folder, with relative paths
    return root


@pytest.fixture
def example_course(example_folder) -> Path:
    require_sandbox()
    return example_folder


@pytest.mark.integration
def test_the_example_releases_and_validates_as_the_guide_says(example_course, capsys):
    assert cli.main(["release"]) == 0
    release = nbformat.read(example_course / "release" / "relative_error" / "relative_error.ipynb", as_version=4)
    text = "\n".join(c.source for c in release.cells)
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text and "raise NotImplementedError()" in text
    capsys.readouterr()

    assert cli.main(["validate", "source/relative_error/relative_error.ipynb"]) == 0
    assert capsys.readouterr().out.strip() == guide_output("validate master")
    assert cli.main(["validate", "release/relative_error/relative_error.ipynb"]) == 1
    assert capsys.readouterr().out.strip() == guide_output("validate stub")


def test_release_refuses_points_that_do_not_match_the_cells(example_folder, capsys):
    # Points for a cell the notebook does not have, none for one it has: release stops before nbgrader runs.
    course_yml = example_folder / "course.yml"
    course_yml.write_text(course_yml.read_text().replace("discussion_relative_error", "discussion"))
    assert cli.main(["release"]) == 2
    err = capsys.readouterr().err
    assert "points do not match the graded cells" in err
    assert "(no such cell: ['discussion']; cells without points: ['discussion_relative_error'])" in err
    assert not (example_folder / "release").exists()
