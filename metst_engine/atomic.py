"""Atomic file writes: a temporary file in the target's folder, synced, then renamed over it.

A killed run therefore leaves either the old file or the new one, never half a file, and
no temporary behind when the writer fails. An output that cannot be written (a folder of
that name, no permission, a read-only disk, a disk full) is an :class:`InputError` naming
it and what to do, not an internal error.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError


def output_problem(exc: OSError) -> str:
    """What to tell the user about an OSError met while writing an output."""
    code = exc.errno
    if isinstance(exc, IsADirectoryError) or code == errno.EISDIR:
        return "is a folder; give a file name for the output (e.g. FOLDER/name.csv)"
    if isinstance(exc, PermissionError) or code in (errno.EACCES, errno.EPERM):
        return "permission denied; choose a folder you can write to"
    if code == errno.EROFS:
        return "on a read-only file system; choose a folder you can write to"
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full (or over quota); free some space and run again"
    if isinstance(exc, NotADirectoryError) or code == errno.ENOTDIR:
        return "a part of the path is a file, not a folder; choose another output path"
    if isinstance(exc, FileExistsError) or code == errno.EEXIST:
        return "exists and is not a folder; choose another output folder"
    if code == errno.ENAMETOOLONG:
        return "the name is too long; choose a shorter output path"
    return f"cannot write here ({exc.strerror or exc}); choose another output path"


def ensure_dir(path: str | Path) -> Path:
    """Make the folder ``path`` (and its parents); an OSError becomes an :class:`InputError` naming it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(path, output_problem(exc)) from None
    return path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on failure it is removed."""
    path = Path(path)
    if path.is_dir():
        raise InputError(path, output_problem(IsADirectoryError(errno.EISDIR, "is a folder")))
    ensure_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputError(path, output_problem(exc)) from None
    os.close(fd)
    try:
        try:
            yield Path(tmp)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
                raise InputError(path, output_problem(exc)) from None
            raise
        try:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            raise InputError(path, output_problem(exc)) from None
    finally:
        Path(tmp).unlink(missing_ok=True)
