"""The Dask worker preload imports everything a worker's judging imports, so a new worker's first submission pays no imports."""
from __future__ import annotations

import ast
import subprocess
import sys

import nbformat
import pytest

from dvwcourse.cells import is_test_cell
from dvwcourse.checkspec import library_indexes
from dvwcourse.trusted_tests import strip_magics
from dvwcourse.worker_preload import JUDGING_IMPORTS


def imported_modules(source: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(strip_magics(source))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def test_the_preload_covers_every_library_the_masters_judged_cells_import(course):
    master = nbformat.read(course.source_notebook, as_version=4)
    judged = set(library_indexes(master)) | {i for i, cell in enumerate(master.cells) if is_test_cell(cell)}
    imported = set().union(*(imported_modules(master.cells[i].source) for i in judged))
    outside_the_standard_library = {m for m in imported if m.split(".")[0] not in sys.stdlib_module_names}
    assert outside_the_standard_library, "the master's cells import no library: this test would check nothing"
    assert outside_the_standard_library <= set(JUDGING_IMPORTS)


@pytest.mark.integration  # a fresh Python process that imports torch and the engine: seconds, not a unit test
def test_the_preload_imports_the_engine_and_the_judging_libraries_in_a_fresh_process_and_removes_only_the_profiler():
    probe = ("import sys, types; from dvwcourse.worker_preload import JUDGING_IMPORTS, dask_setup; "
             "worker = types.SimpleNamespace(periodic_callbacks=dict.fromkeys(['heartbeat', 'profile', 'profile-cycle'])); "
             "dask_setup(worker); assert list(worker.periodic_callbacks) == ['heartbeat'], worker.periodic_callbacks; "
             "missing = [m for m in ('dvwcourse.safe_grading', *JUDGING_IMPORTS) if m not in sys.modules]; print(missing)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
