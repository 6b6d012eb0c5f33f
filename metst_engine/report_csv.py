"""Write report tables as CSV that a spreadsheet opens safely.

Subject ids, run names and paths come from users' files; a cell starting with ``=``, ``+``,
``-``, ``@`` (or a tab / carriage return) would run as a formula in Excel or LibreOffice
(CSV injection), so such text cells get a leading apostrophe. Numbers are written as numbers.
One rule for every sheet metst writes (reports here, project exports in ``project.exports``).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from .atomic import atomic_path

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED_STARTS = (*FORMULA_STARTS, "'")   # a leading quote is escaped too, so unescaping is exact


def escape_cell(text: str) -> str:
    """Make a text cell inert in spreadsheet programs (reversible with :func:`unescape_cell`)."""
    return "'" + text if text.startswith(_ESCAPED_STARTS) else text


def unescape_cell(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(_ESCAPED_STARTS) else text


def safe_cell(value: object) -> str:
    """One CSV cell: numbers as written by ``repr`` (NaN and None empty), text escaped against formulas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return escape_cell(str(value))


def write_report_csv(path: str | Path, header: Sequence[object], rows: Iterable[Sequence[object]]) -> Path:
    """Write ``header`` and ``rows`` (atomically) with every cell passed through ``safe_cell``."""
    out = Path(path)
    with atomic_path(out) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([safe_cell(c) for c in header])
        for row in rows:
            writer.writerow([safe_cell(c) for c in row])
    return out


__all__ = ["FORMULA_STARTS", "escape_cell", "safe_cell", "unescape_cell", "write_report_csv"]
