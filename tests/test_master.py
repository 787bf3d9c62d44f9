"""The master notebook runs top to bottom, at the grading budget, with every test cell passing."""
import pytest

from dvwcourse.validation import validate_notebook


@pytest.mark.integration
def test_master_passes_every_test_cell(course):
    result = validate_notebook(course, course.source_notebook)
    assert result.ok, "\n\n".join(result.problems)
