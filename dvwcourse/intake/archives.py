"""Unpack an LMS download, or an archive a student handed in (zip or tar), safely: every path stays inside its folder,
sizes are bounded, only regular files are written (no links, no devices).

Operating-system litter (`__MACOSX/`, `.DS_Store`, `Thumbs.db`) is left out: it is nobody's work.
"""
from __future__ import annotations

import shutil
import tarfile
import zipfile
from contextlib import ExitStack
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Iterator

MAX_UNPACKED_BYTES = 4_000_000_000  # all members of one archive together
MAX_MEMBERS = 100_000
LITTER = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"}
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
UNSUPPORTED = {".rar": "RAR", ".7z": "7-Zip"}  # no library for them in this environment: the student is told
NESTING = 3  # archives inside archives are unpacked this deep

Member = tuple[str, Callable[[], BinaryIO]]  # a regular file's path in the archive, and how to open it


class ArchiveProblem(Exception):
    """An archive that cannot be unpacked (whole), naming it and the cause."""


def is_archive(path: Path) -> bool:
    return path.name.lower().endswith((".zip", *TAR_SUFFIXES, *UNSUPPORTED))


def unpacked_folder(archive: Path) -> Path:
    return archive.with_name(archive.name + " (unpacked)")


def unpack_nested(folder: Path, problems: list[str]) -> None:
    """Unpack every archive below `folder` beside itself (`<name> (unpacked)/`), and those they hold, NESTING deep;
    why one could not be unpacked goes in `problems`."""
    done: set[Path] = set()
    for _ in range(NESTING):
        for archive in [p for p in sorted(folder.rglob("*")) if p not in done and p.is_file() and not p.is_symlink() and is_archive(p)]:
            done.add(archive)
            try:
                unpack_archive(archive, unpacked_folder(archive), archive.relative_to(folder).as_posix())
            except ArchiveProblem as error:
                problems.append(str(error))


def unpack_archive(archive: Path, target: Path, shown_as: str | None = None) -> list[Path]:
    """A zip or tar archive unpacked into `target` (made empty first); the files written. Raises ArchiveProblem."""
    shown_as = shown_as or str(archive)
    name = archive.name.lower()
    kind = next((kind for suffix, kind in UNSUPPORTED.items() if name.endswith(suffix)), None)
    if kind:
        raise ArchiveProblem(f"{shown_as}: a {kind} archive cannot be opened here; hand in the .ipynb file, or a .zip")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    reader = _tar_members if name.endswith(TAR_SUFFIXES) else _zip_members
    written, total = [], 0
    try:
        with ExitStack() as stack:
            for count, (member, open_member) in enumerate(reader(archive, stack)):
                if count >= MAX_MEMBERS:
                    raise ArchiveProblem(f"{shown_as}: holds more than {MAX_MEMBERS} files")
                parts = safe_parts(member)
                if not parts or any(part in LITTER or part.startswith("._") for part in parts):
                    continue
                path = target.joinpath(*parts)
                path.parent.mkdir(parents=True, exist_ok=True)
                total += _copy_bounded(open_member(), path, MAX_UNPACKED_BYTES - total, shown_as)
                written.append(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, NotImplementedError, RuntimeError, EOFError,
            ValueError) as error:
        raise ArchiveProblem(f"{shown_as}: not an archive that can be opened ({type(error).__name__}: {error})") from None
    except OSError as error:
        raise ArchiveProblem(f"{shown_as}: cannot be unpacked ({error.strerror or error})") from None
    return written


def _zip_members(archive: Path, stack: ExitStack) -> Iterator[Member]:
    bundle = stack.enter_context(zipfile.ZipFile(archive))
    for info in bundle.infolist():
        if not info.is_dir():
            yield info.filename, lambda info=info: bundle.open(info)


def _tar_members(archive: Path, stack: ExitStack) -> Iterator[Member]:
    bundle = stack.enter_context(tarfile.open(archive))
    for info in bundle:
        if info.isfile():  # never a link or a device
            yield info.name, lambda info=info: bundle.extractfile(info)


def safe_parts(name: str) -> list[str]:
    """A member's path as folder names that stay inside the target: no root, no `..`, Windows separators too."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return [part for part in parts if part not in ("/", ".", "..") and not (len(part) == 2 and part[1] == ":")]


def _copy_bounded(source: BinaryIO, path: Path, room: int, shown_as: str) -> int:
    """Copy one member, refusing to write more than `room` bytes (a zip bomb declares small sizes and lies)."""
    copied = 0
    with source, path.open("wb") as destination:
        while chunk := source.read(1 << 20):
            copied += len(chunk)
            if copied > room:
                raise ArchiveProblem(f"{shown_as}: unpacks to more than {MAX_UNPACKED_BYTES // 1_000_000} MB")
            destination.write(chunk)
    return copied
