"""The engine knows no exercise: nothing in dvwcourse/ names a grade id, function, variable or file of the shipped
notebook, so a course's next assignment needs no change to the package (issue 24)."""
from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import nbformat

from dvwcourse.cells import grade_id

ROOT = Path(__file__).resolve().parent.parent
# The contract every master shares with the grader (docs/authoring.md), and names of nbgrader's own.
CONTRACT = {"check", "require", "compare", "as_plain", "note_difference", "grading_seed", "grading_rng", "GRADING_SEED",
            "NBGRADER_EXECUTION"}


def shipped_names(path: Path) -> set[str]:
    """The identifiers a master notebook defines or tags: grade ids, functions, classes, their parameters, assigned
    variables and identifier-like strings, and its assignment and file name. Kept: names that read as code (an
    underscore or mixed case), so that English words the engine uses anyway ("width", "layer") do not count."""
    nb = nbformat.read(path, as_version=4)
    names = {path.stem, path.parent.name} | {grade_id(cell) for cell in nb.cells if grade_id(cell)}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            if isinstance(node, ast.FunctionDef):
                names |= {argument.arg for argument in node.args.args}
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"[A-Za-z_]\w*", node.value):
                names.add(node.value)
    code_like = {n for n in names if len(n) >= 4 and ("_" in n.strip("_") or n not in (n.lower(), n.capitalize()))}
    return code_like - CONTRACT - set(dir(builtins))


def engine_texts() -> dict[Path, str]:
    return {path: path.read_text(encoding="utf-8") for path in (ROOT / "dvwcourse").rglob("*")
            if path.suffix in (".py", ".j2")}


def mentions(names: set[str], texts: dict[Path, str]) -> dict[str, list[str]]:
    found = {}
    for name in sorted(names):
        pattern = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])")
        hits = [str(path.relative_to(ROOT)) for path, text in texts.items() if pattern.search(text)]
        if hits:
            found[name] = hits
    return found


def test_the_shipped_notebooks_names_are_found():
    names = shipped_names(ROOT / "source" / "depth_vs_width" / "depth_vs_width.ipynb")
    # The reader sees what an exercise is made of: grade ids, functions, parameters, variables, the file's name.
    assert {"test_get_num_params", "make_MLP", "get_num_params", "n_in", "depth_vs_width", "DVW_BUDGET"} <= names


def test_no_name_of_the_shipped_notebook_appears_in_the_engine():
    names = set()
    for master in (ROOT / "source").glob("*/*.ipynb"):
        names |= shipped_names(master)
    assert mentions(names, engine_texts()) == {}


def test_the_check_would_see_a_name_written_into_the_engine():
    texts = {ROOT / "dvwcourse" / "example.py": "# a comment about make_MLP\nx = helper_make_MLP2\n"}
    assert mentions({"make_MLP", "get_num_params"}, texts) == {"make_MLP": ["dvwcourse/example.py"]}
