"""Tell a student whose notebook ran out of its disk space: its working folder or /tmp is full, or a
cell reported "No space left on device" (it may have removed its files since)."""
from __future__ import annotations

from pathlib import Path

import nbformat

from .sandbox import KernelLauncher
from .scratch import filled, private_tmp
from ..settings import megabytes

# How Python and the shell report ENOSPC.
NO_SPACE_MESSAGES = ("No space left on device", "[Errno 28]")


def says_no_space(nb: nbformat.NotebookNode) -> bool:
    """Whether any cell's output reports a write refused for lack of space."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = " ".join([str(output.get("text", "")), str(output.get("evalue", "")), *map(str, output.get("traceback", []))])
            if any(message in text for message in NO_SPACE_MESSAGES):
                return True
    return False


def out_of_space_notes(scratch: Path, nb: nbformat.NotebookNode, launcher: KernelLauncher) -> list[str]:
    """A note for the feedback when the kernel hit its disk bound, else none."""
    if not launcher.bounded:
        return []
    settings = launcher.settings
    places = [("its working folder", scratch, settings.work_folder_bytes), ("/tmp", private_tmp(scratch), settings.scratch_tmpfs_bytes)]
    full = [f"more than {megabytes(size)} MB to {where}" for where, path, size in places if filled(path)]
    if full:
        wrote = " and ".join(full)
    elif says_no_space(nb):
        wrote = (f"more than its disk space allows (working folder and HOME {megabytes(settings.work_folder_bytes)} MB, "
                 f"/tmp {megabytes(settings.scratch_tmpfs_bytes)} MB)")
    else:
        return []
    return [f"Your notebook wrote {wrote}; writes beyond that failed with 'No space left on device'. It was graded on what ran."]
