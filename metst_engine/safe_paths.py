"""The one rule for turning an id (video id, subject name, run name) into a path, and for input files.

Ids come from users' files (manifests, label sheets, prediction CSVs, the command line),
so they are hostile input: ``/elsewhere/evil``, ``../x``, ``C:evil``, a name with a newline
or with bytes that are not UTF-8. Every place that makes a file or folder name from an id
goes through :func:`id_path`, which refuses such ids with a message naming where the id
came from and what to do, and checks that the result stays inside its folder.

:func:`input_file` is the matching rule for files the user gives to read: they must be
regular files (a FIFO would block a reader forever, a folder is a mistake).
"""

from __future__ import annotations

import os
import stat
import unicodedata
from pathlib import Path

from .errors import InputError

#: Longest id, in UTF-8 bytes (file systems allow 255 per name; suffixes need room).
MAX_ID_BYTES = 200
#: Characters no id may hold: path separators, the Windows drive colon and reserved characters.
_FORBIDDEN = set('/\\:*?"<>|')


def id_problem(value: object) -> str | None:
    """Why ``value`` cannot be used as an id in a file name, or None when it can."""
    if not isinstance(value, str):
        return f"is not text ({type(value).__name__})"
    if not value.strip():
        return "is empty"
    if value in (".", "..") or not value.strip(". "):
        return "is only dots"
    bad = sorted({c for c in value if c in _FORBIDDEN})
    if bad:
        return f"holds {', '.join(repr(c) for c in bad)} (no path separators or {' '.join(sorted(_FORBIDDEN))})"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in value):
        if any(0xDC80 <= ord(c) <= 0xDCFF for c in value):
            return "is not valid UTF-8 (a file name with undecodable bytes)"
        return "holds control characters (a newline, tab or invisible formatting character)"
    if value != value.strip():
        return "starts or ends with white space"
    if len(value.encode("utf-8")) > MAX_ID_BYTES:
        return f"is longer than {MAX_ID_BYTES} bytes"
    return None


def check_id(value: object, what: str = "id", source: str | Path | None = None, fix: str | None = None) -> str:
    """``value`` when it is a usable id, else an :class:`InputError` naming ``source`` and the fix."""
    problem = id_problem(value)
    if problem is not None:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise InputError(source, f"{what} {shown} {problem}; {what}s become file names, so use letters, digits, "
                                 f"'.', '-', '_' or spaces ({fix or 'rename it in the file it comes from'})")
    return value  # type: ignore[return-value]


def id_path(folder: str | Path, ident: str, suffix: str = "", *, what: str = "id",
            source: str | Path | None = None) -> Path:
    """``folder / (ident + suffix)``, refusing any id that would leave ``folder``."""
    check_id(ident, what, source)
    folder = Path(folder)
    out = folder / f"{ident}{suffix}"
    base = os.path.abspath(folder)
    if os.path.dirname(os.path.abspath(out)) != base:      # defence in depth: never outside the folder
        raise InputError(source, f"{what} {ident!r} would write outside {folder}")
    return out


def utf8_path(path: str | Path, what: str = "path") -> str:
    """``str(path)`` when UTF-8 can hold it (Linux file names may carry any bytes), else a clear InputError."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(path, f"the {what} is not valid UTF-8 (a name with undecodable bytes), which metst cannot "
                               "store; rename the file or folder") from None
    return text


def input_file(path: str | Path, what: str = "file") -> Path:
    """``path`` when it is an existing regular file (symlinks followed), else a clear :class:`InputError`."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError(p, f"{what} not found; check the path") from None
    except OSError as exc:
        raise InputError(p, f"cannot read the {what}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(p, f"is a folder, not a {what}; give the file inside it")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(p, f"is not a regular file (a pipe, socket or device); save the {what} to a file first")
    if not os.access(p, os.R_OK):
        raise InputError(p, f"cannot read the {what}: permission denied; check its permissions")
    return p


__all__ = ["MAX_ID_BYTES", "check_id", "id_path", "id_problem", "input_file", "utf8_path"]
