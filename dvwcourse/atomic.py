"""Write files whole or not at all: a temporary file beside the target, then a rename over it; and read the
grader's own saved JSON back, trusting nothing.

A full disk or a crash mid-write leaves the previous version (or no file), never half of one. A file damaged
some other way (a disk fault, a hand edit) reads as absent, with a note.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the name points at them
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide graded work from the course's other users
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def read_saved_json(path: Path, is_valid: Callable[[Any], bool], damaged: list[str], then: str) -> Any | None:
    """The JSON the grader saved at `path`; None when there is none, or when it cannot be read or is not what was
    written (then a note in `damaged` names the file, the cause and `then`, what the grader does instead)."""
    try:
        data = json.loads(path.read_bytes())
        if not is_valid(data):
            raise ValueError("not what the grader writes there")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as error:  # RecursionError: nested deeper than the parser goes
        damaged.append(f"{path}: damaged ({type(error).__name__}), so {then}")
        return None
    return data
