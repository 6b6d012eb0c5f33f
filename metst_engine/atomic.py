"""Atomic file writes: a temporary file in the target's folder, synced, then renamed over it.

A killed run therefore leaves either the old file or the new one, never half a file, and
no temporary behind when the writer fails. The new file gets the permissions any new file
gets (0666 less the umask, as ``open()`` gives), not ``mkstemp``'s private 0600: an export
or a run folder is as readable by the group as the user's other files. An output that cannot be written (a folder of
that name, no permission, a read-only disk, a disk full) is an :class:`InputError` naming
it and what to do, not an internal error.
"""

from __future__ import annotations

import errno
import os
import secrets
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
    tmp = _new_temporary(path)
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


def _new_temporary(path: Path) -> Path:
    """An empty, new file beside ``path`` (``.<name>.<random>.tmp``), created with mode 0666 so the
    umask applies as for any new file (``tempfile.mkstemp`` would make it 0600)."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666))
        except FileExistsError:
            continue
        except OSError as exc:
            raise InputError(path, output_problem(exc)) from None
        return tmp
    raise InputError(path, output_problem(FileExistsError(errno.EEXIST, "no free temporary name")))
