"""Every answer found, however the student edited the notebook: each whole class of edit, on the real release.

Fast: the submission is read and assembled, nothing runs. That the graded result is right for such
notebooks is checked in the corpus (tests/corpus.py: student_cells, untagged_answers, colab, split_answer).
"""
from __future__ import annotations

import copy
import json

import nbformat
import pytest

from dvwcourse.assemble import STUDENT_CELL, assemble, read_answers
from dvwcourse.cells import grade_id, is_solution, is_test_cell
from dvwcourse.checkspec import library_indexes
from dvwcourse.samples import fill_answers, sample_answers
from frontends import FRONT_ENDS

HELPER = "def my_helper(x):\n    return 2 * x"


@pytest.fixture(scope="module")
def release(course):
    return nbformat.read(course.release_notebook, as_version=4)


@pytest.fixture(scope="module")
def master(course):
    return nbformat.read(course.source_notebook, as_version=4)


@pytest.fixture(scope="module")
def correct(course, release):
    """The release filled in with correct answers, written differently from the master."""
    return fill_answers(release, sample_answers(course, "alternative_solutions"), "test")


def graded(tmp_path, data, master, release):
    """(answers read, notebook assembled) for a submission whose JSON is `data`."""
    path = tmp_path / "submission.ipynb"
    path.write_text(json.dumps(data))
    answers = read_answers(path, release)
    return answers, assemble(master, release, answers)


def sources(nb) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def untagged(cell: dict) -> dict:
    """A cell as re-created by hand or saved by an editor that drops metadata: no nbgrader metadata, no id."""
    cell = copy.deepcopy(cell)
    cell.pop("id", None)
    cell["metadata"] = {}
    return cell


def answer_ids(nb) -> list[str]:
    return [grade_id(c) for c in nb.cells if is_solution(c)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, correct, master, release):
    """The graded notebook of the untouched, filled-in release: what every edit below must come back to."""
    return graded(tmp_path_factory.mktemp("ref"), dict(correct), master, release)[1]


@pytest.mark.parametrize("front_end", list(FRONT_ENDS))
def test_every_front_end_saves_a_notebook_that_grades_alike(tmp_path, front_end, correct, master, release, reference):
    answers, nb = graded(tmp_path, FRONT_ENDS[front_end](correct), master, release)
    assert sources(nb) == sources(reference) and answers.own == []
    assert set(answers.cells) == set(answer_ids(release))


def test_each_answer_cell_that_lost_its_tags_is_found_and_the_feedback_says_so(tmp_path, correct, master, release, reference):
    for gid in answer_ids(release):
        data = dict(correct)
        data["cells"] = [untagged(c) if grade_id(c) == gid else c for c in correct.cells]
        answers, nb = graded(tmp_path, data, master, release)
        assert sources(nb) == sources(reference), gid
        answered = next(c for c in correct.cells if grade_id(c) == gid).source != next(c for c in release.cells if grade_id(c) == gid).source
        assert any("without its grading tag" in remark for remark in answers.remarks.get(gid, [])) == answered, gid


def test_answers_pasted_into_a_fresh_notebook_without_the_course_cells_are_found(tmp_path, correct, master, release, reference):
    """Two answers start alike (torch.manual_seed(-1)): their neighbours, found first, tell them apart."""
    data = dict(correct)
    data["cells"] = [untagged(c) for c in correct.cells if is_solution(c) and c.cell_type == "code"]
    answers, nb = graded(tmp_path, data, master, release)
    code_answers = [c for c in reference.cells if is_solution(c) and c.cell_type == "code"]
    assert {gid: answers.cells[gid] for gid in map(grade_id, code_answers)} == {grade_id(c): c.source for c in code_answers}
    assert answers.own == []


def test_an_answer_two_untagged_cells_could_be_is_not_guessed_and_both_are_named(tmp_path, correct, master, release):
    cells = []
    for cell in correct.cells:
        if grade_id(cell) == "get_num_params":
            cells += [untagged(cell), untagged(nbformat.v4.new_code_cell("def get_num_params(n_in, W, D):\n    return 0"))]
        else:
            cells.append(cell)
    answers, nb = graded(tmp_path, {**correct, "cells": cells}, master, release)
    first = [n + 1 for n, c in enumerate(cells) if c["source"].startswith("def get_num_params")]
    assert "get_num_params" not in answers.cells
    assert answers.remarks["get_num_params"] == [f"no cell carries this answer's grading tag, and cells {first[0]}, {first[1]} all look like it:"
                                                 " it was graded as unanswered; ask your teaching assistants to look"]
    assert answers.flags == [f"get_num_params: no cell carries its tag and cells {first[0]}, {first[1]} could each be it (not guessed)"]


def test_a_cell_inserted_anywhere_runs_right_after_the_course_cell_before_it(tmp_path, correct, master, release):
    """Every gap of the release; those before the first answer run after the setup cells, just before it."""
    first_answer = next(n for n, c in enumerate(master.cells) if is_solution(c))
    for gap in range(len(correct.cells) + 1):
        cells = list(correct.cells)
        cells.insert(gap, nbformat.v4.new_code_cell(HELPER))
        answers, nb = graded(tmp_path, {**correct, "cells": cells}, master, release)
        where = [n for n, c in enumerate(nb.cells) if c.source == HELPER]
        assert len(where) == 1 and STUDENT_CELL in nb.cells[where[0]].metadata, gap
        before = max(gap - 1, first_answer - 1)
        assert grade_id(nb.cells[where[0] - 1]) == grade_id(master.cells[before]), gap
        assert [c for c in nb.cells if STUDENT_CELL not in c.metadata] == [nb.cells[n] for n in range(len(nb.cells)) if n != where[0]]
        # The setup cells stay where the master has them, so a warm kernel's copy of them holds.
        assert [nb.cells[n].source for n in library_indexes(nb)] == [master.cells[n].source for n in library_indexes(master)]


def test_cells_inserted_together_keep_their_order_and_markdown_stays(tmp_path, correct, master, release):
    cells = list(correct.cells)
    at = next(n for n, c in enumerate(cells) if grade_id(c) == "test_width_sweep") + 1
    added = [nbformat.v4.new_markdown_cell("my notes"), nbformat.v4.new_code_cell("import itertools"), nbformat.v4.new_code_cell(HELPER)]
    cells[at:at] = added
    answers, nb = graded(tmp_path, {**correct, "cells": cells}, master, release)
    after = next(n for n, c in enumerate(nb.cells) if grade_id(c) == "test_width_sweep")
    assert sources(nbformat.from_dict({"cells": nb.cells[after + 1:after + 4]})) == [(c.cell_type, c.source) for c in added]


def test_nothing_of_a_course_cell_is_ever_taken_from_the_submission(tmp_path, correct, master, release):
    """Edited, copied, untagged and made-up course cells: none runs, every test and locked cell is the master's."""
    cells = []
    for cell in correct.cells:
        cells.append(cell)
        if is_test_cell(cell):
            edited = copy.deepcopy(cell)
            edited.source = "print('all tests passed')"
            cells += [edited, untagged(cell)]
    made_up = nbformat.v4.new_code_cell("print('fake test')", metadata={"nbgrader": {"grade_id": "test_extra", "grade": True, "locked": True,
                                                                                      "solution": False, "points": 5}})
    cells.append(made_up)
    answers, nb = graded(tmp_path, {**correct, "cells": cells}, master, release)
    assert answers.own == []
    assert [(grade_id(c), c.source) for c in nb.cells if not is_solution(c)] == [(grade_id(c), c.source) for c in master.cells if not is_solution(c)]
    assert any("not run" in note for note in answers.notes)


def test_a_split_answer_cell_runs_both_halves_and_a_copy_left_as_the_stub_is_skipped(tmp_path, correct, master, release):
    stub = next(c for c in release.cells if grade_id(c) == "width_fit")
    cells = []
    for cell in correct.cells:
        if grade_id(cell) == "width_fit":
            lines = cell.source.splitlines(keepends=True)
            first, second = copy.deepcopy(cell), copy.deepcopy(cell)
            first.source, second.source = "".join(lines[:2]), "".join(lines[2:])
            cells += [copy.deepcopy(stub), first, second]
        else:
            cells.append(cell)
    answers, nb = graded(tmp_path, {**correct, "cells": cells}, master, release)
    at = next(n for n, c in enumerate(nb.cells) if grade_id(c) == "width_fit")
    assert [nb.cells[at].source, nb.cells[at + 1].source] == [first.source, second.source]
    assert grade_id(nb.cells[at + 2]) == "test_width_fit"
    assert any("appears 3 times" in r and "left as the stub were skipped" in r for r in answers.remarks["width_fit"])


def test_each_answer_re_created_away_from_its_place_is_found_anywhere_in_the_notebook(tmp_path, correct, master, release, reference):
    """Deleted and re-created at the end of the notebook, without tags: still the one cell that can be it."""
    for gid in [g for g in answer_ids(release) if next(c for c in release.cells if grade_id(c) == g).cell_type == "code"]:
        moved = untagged(next(c for c in correct.cells if grade_id(c) == gid))
        answers, nb = graded(tmp_path, {**correct, "cells": [c for c in correct.cells if grade_id(c) != gid] + [moved]}, master, release)
        assert sources(nb) == sources(reference) and answers.own == [], gid


def test_an_answer_away_from_its_place_with_a_lookalike_elsewhere_is_not_guessed_anywhere(tmp_path, correct, master, release):
    """The ambiguity rule holds in the whole-notebook search too: a decoy far away is named with the real one, not graded."""
    moved = untagged(next(c for c in correct.cells if grade_id(c) == "get_num_params"))
    decoy = untagged(nbformat.v4.new_code_cell("def get_num_params(n_in, W, D):\n    return 0"))
    cells = [decoy] + [c for c in correct.cells if grade_id(c) != "get_num_params"] + [moved]
    answers, nb = graded(tmp_path, {**correct, "cells": cells}, master, release)
    assert "get_num_params" not in answers.cells
    assert answers.flags == [f"get_num_params: no cell carries its tag and cells 1, {len(cells)} could each be it (not guessed)"]


def test_every_answer_re_created_in_place_without_tags_is_found_by_the_course_cells_around_it(tmp_path, correct, master, release, reference):
    """Answers that start alike (torch.manual_seed(-1)) are told apart by the course cells kept in order around them."""
    for alike in [None, {"learning_problem", "quasi_linear_problem"}]:  # every answer, or only the two alike
        cells = [untagged(c) if is_solution(c) and (alike is None or grade_id(c) in alike) else c for c in correct.cells]
        answers, nb = graded(tmp_path, {**correct, "cells": cells}, master, release)
        assert sources(nb) == sources(reference) and answers.own == [] and not answers.flags, alike


def test_a_cell_that_lost_its_metadata_but_kept_its_id_is_that_cell(tmp_path, correct, master, release, reference):
    """An editor that drops metadata keeps cell ids: the id says which answer it is, wherever it stands."""
    cells = [c for c in correct.cells if grade_id(c) != "get_num_params"]
    moved = copy.deepcopy(next(c for c in correct.cells if grade_id(c) == "get_num_params"))
    moved["metadata"] = {}
    moved["id"] = "get_num_params"
    decoy = untagged(nbformat.v4.new_code_cell("def get_num_params(n_in, W, D):\n    return 0"))
    answers, nb = graded(tmp_path, {**correct, "cells": [decoy, *cells, moved]}, master, release)
    assert answers.cells["get_num_params"] == moved["source"] and not answers.flags


def test_the_students_own_cells_are_valid_cells_of_the_graded_notebook_marked_as_theirs(tmp_path, correct, master, release):
    cells = [nbformat.v4.new_code_cell("import itertools"), *correct.cells]  # before every course cell: runs before the first answer
    cells[2:2] = [nbformat.v4.new_markdown_cell("my notes"), nbformat.v4.new_code_cell(HELPER)]
    answers, nb = graded(tmp_path, {**correct, "cells": cells}, master, release)
    nbformat.validate(nb)  # a code cell has outputs and an execution count; every cell an id
    own = [c for c in nb.cells if STUDENT_CELL in c.metadata]
    assert [(c.id, c.cell_type, c.source, c.metadata[STUDENT_CELL]) for c in own] == [
        ("student-cell-1", "code", "import itertools", {"student_cell": True}),
        ("student-cell-2", "markdown", "my notes", {"student_cell": True}), ("student-cell-3", "code", HELPER, {"student_cell": True})]
    assert "outputs" not in own[1] and own[2].outputs == [] and own[2].execution_count is None
    assert len({c.id for c in nb.cells}) == len(nb.cells)


def test_what_was_found_is_said_exactly_cell_by_cell(tmp_path, correct, master, release):
    """An untagged answer, a copied one (one copy left as the stub), missing answers, added cells and an empty one."""
    cells, stub = [], {grade_id(c): c for c in release.cells}
    for cell in correct.cells:
        if grade_id(cell) in ("curve_length", "width_fit"):
            continue  # deleted
        cells.append(untagged(cell) if grade_id(cell) == "get_num_params" else cell)
        if grade_id(cell) == "make_data":
            cells += [copy.deepcopy(stub["make_data"]), nbformat.v4.new_code_cell(HELPER), nbformat.v4.new_code_cell("x = 1"),
                      nbformat.v4.new_code_cell("  "), nbformat.v4.new_markdown_cell("notes")]
    at = {name: next(n for n, c in enumerate(cells) if grade_id(c) == name) + 1 for name in ("make_data",)}
    untagged_at = next(n for n, c in enumerate(cells) if c["source"].startswith("def get_num_params")) + 1
    answers, nb = graded(tmp_path, {**correct, "cells": cells}, master, release)
    assert answers.notes == [
        f"get_num_params: your answer was found in a cell without its grading tag (cell {untagged_at} of your notebook)",
        f"make_data: this answer cell appears 2 times in your notebook (cells {at['make_data']}, {at['make_data'] + 1}): every copy"
        " with your work in it ran, in your notebook's order, copies left as the stub were skipped",
        "answer cells missing from the submission (graded as unanswered): curve_length, width_fit",
        "code cells you added (2) ran in their place among the course's cells"]
