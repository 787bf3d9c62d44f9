"""nbgrader preprocessors that fix how stock nbgrader treats tampered submissions."""
from __future__ import annotations

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import DeduplicateIds

from .cells import drop_empty_metadata


class DeduplicateGradeIds(DeduplicateIds):
    """nbgrader's DeduplicateIds, leaving a demoted duplicate with no nbgrader metadata at all.

    Stock DeduplicateIds leaves `nbgrader: {}` on every copy but the last of a duplicated cell;
    OverwriteCells(add_missing_cells=True) then fails on the missing grade_id and the whole
    submission goes ungraded. The copy that keeps the metadata is still restored from the gradebook.
    """

    def preprocess_cell(self, cell: NotebookNode, resources: ResourcesDict, cell_index: int) -> tuple[NotebookNode, ResourcesDict]:
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        drop_empty_metadata(cell)
        return cell, resources
