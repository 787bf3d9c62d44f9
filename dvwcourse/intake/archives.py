"""Unpack an LMS download, or a zip a student handed in, safely: every path stays inside its folder, sizes are bounded.

Operating-system litter (`__MACOSX/`, `.DS_Store`, `Thumbs.db`) is left out: it is nobody's work.
"""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path, PurePosixPath

MAX_UNPACKED_BYTES = 4_000_000_000  # all members of one archive together
MAX_MEMBERS = 100_000
LITTER = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"}


class ArchiveProblem(Exception):
    """An archive that cannot be unpacked (whole), naming it and the cause."""


def unpack_zip(archive: Path, target: Path, shown_as: str | None = None) -> list[Path]:
    """Unpack `archive` into `target` (made empty first); the files written. Raises ArchiveProblem."""
    shown_as = shown_as or str(archive)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    written, total = [], 0
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = [m for m in bundle.infolist() if not m.is_dir()]
            if len(members) > MAX_MEMBERS:
                raise ArchiveProblem(f"{shown_as}: holds {len(members)} files, more than {MAX_MEMBERS}")
            for member in members:
                parts = safe_parts(member.filename)
                if not parts or any(part in LITTER or part.startswith("._") for part in parts):
                    continue
                path = target.joinpath(*parts)
                path.parent.mkdir(parents=True, exist_ok=True)
                total += _copy_bounded(bundle, member, path, MAX_UNPACKED_BYTES - total, shown_as)
                written.append(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError, ValueError) as error:
        raise ArchiveProblem(f"{shown_as}: not a zip file that can be opened ({type(error).__name__}: {error})") from None
    except OSError as error:
        raise ArchiveProblem(f"{shown_as}: cannot be unpacked ({error.strerror or error})") from None
    return written


def safe_parts(name: str) -> list[str]:
    """A member's path as folder names that stay inside the target: no root, no `..`, Windows separators too."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return [part for part in parts if part not in ("/", ".", "..") and not (len(part) == 2 and part[1] == ":")]


def _copy_bounded(bundle: zipfile.ZipFile, member: zipfile.ZipInfo, path: Path, room: int, shown_as: str) -> int:
    """Copy one member, refusing to write more than `room` bytes (a zip bomb declares small sizes and lies)."""
    copied = 0
    with bundle.open(member) as source, path.open("wb") as destination:
        while chunk := source.read(1 << 20):
            copied += len(chunk)
            if copied > room:
                raise ArchiveProblem(f"{shown_as}: unpacks to more than {MAX_UNPACKED_BYTES // 1_000_000} MB")
            destination.write(chunk)
    return copied
