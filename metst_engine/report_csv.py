"""Write report tables as CSV that a spreadsheet opens safely.

Subject ids, run names and paths come from users' files; a cell starting with ``=``, ``+``,
``-``, ``@`` (or a tab / carriage return) would run as a formula in Excel or LibreOffice
(CSV injection), so such text cells get a leading apostrophe. Numbers are written as numbers.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from .atomic import atomic_path

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_report_csv(path: str | Path, header: Sequence[object], rows: Iterable[Sequence[object]]) -> Path:
    """Write ``header`` and ``rows`` (atomically) with every cell passed through ``safe_cell``."""
    out = Path(path)
    with atomic_path(out) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([safe_cell(c) for c in header])
        for row in rows:
            writer.writerow([safe_cell(c) for c in row])
    return out


__all__ = ["FORMULA_STARTS", "safe_cell", "write_report_csv"]
