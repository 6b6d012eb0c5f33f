"""Reading label spreadsheets cell by cell, so errors can name sheet, Excel row and column.

openpyxl is used directly (not pandas) because the row numbers a user sees in Excel are
needed for error messages, and numbers in these sheets are sometimes stored as text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from metst_engine.datasets.base import LabelledInterval, LabelRules
from metst_engine.errors import DatasetError


def _blank(v: object) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (
        isinstance(v, float) and math.isnan(v))


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


@dataclass
class Sheet:
    """Rows of one worksheet: (Excel row number, cell values), blank rows left out."""

    path: Path
    title: str
    rows: list[tuple[int, tuple[object, ...]]]
    columns: dict[str, int]  # header name (lower-case) -> column index
    names: list[str]  # display name of each column index

    def where(self, row: int, col: int) -> str:
        name = self.names[col] if col < len(self.names) and self.names[col] else "?"
        return f"sheet '{self.title}', row {row}, column {_column_letter(col)} ({name})"

    def error(self, row: int, col: int, problem: str) -> DatasetError:
        return DatasetError(self.path, f"{self.where(row, col)}: {problem}")

    def col(self, name: str) -> int:
        return self.columns[name.lower()]

    def value(self, cells: tuple[object, ...], name: str) -> object:
        i = self.col(name)
        return cells[i] if i < len(cells) else None

    def number(self, row: int, cells: tuple[object, ...], name: str,
               allow_blank: bool = False) -> float | None:
        """A numeric cell (numbers stored as text accepted); None for a blank if allowed."""
        i = self.col(name)
        v = cells[i] if i < len(cells) else None
        if _blank(v):
            if allow_blank:
                return None
            raise self.error(row, i, "empty; a frame number is needed")
        if isinstance(v, bool):
            raise self.error(row, i, f"not a number: {v!r}")
        try:
            x = float(v) if isinstance(v, (int, float)) else float(str(v).strip())
        except (ValueError, OverflowError):
            raise self.error(row, i, f"not a number: {v!r}") from None
        if not math.isfinite(x) or abs(x) >= 2**31:
            raise self.error(row, i, f"not a frame number: {v!r}; write the frame number or leave the cell empty")
        return x

    def text(self, cells: tuple[object, ...], name: str) -> str:
        v = self.value(cells, name)
        if _blank(v):
            return ""
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()


def open_workbook(path: Path):
    from openpyxl import load_workbook

    if not path.is_file():
        raise DatasetError(path, "label sheet not found")
    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for non-xlsx input
        raise DatasetError(path, f"cannot read as an .xlsx workbook: {exc}") from exc


def read_sheet(path: Path, required: Sequence[str], header_search_rows: int = 20,
               header: bool = True, names: Sequence[str] = ()) -> Sheet:
    """First worksheet of ``path``; with ``header``, the header row is the first row (within
    ``header_search_rows``) holding every ``required`` name; without, ``names`` name the
    columns by position."""
    wb = open_workbook(path)
    try:
        ws = wb.worksheets[0]
        title = ws.title
        all_rows = [(i, tuple(r)) for i, r in enumerate(ws.iter_rows(values_only=True), start=1)]
    finally:
        wb.close()
    req = [r.lower() for r in required]
    if header:
        for i, cells in all_rows[:header_search_rows]:
            labels = [("" if _blank(c) else str(c).strip()) for c in cells]
            lower = [s.lower() for s in labels]
            if all(r in lower for r in req):
                columns = {}
                for j, s in enumerate(lower):
                    if s and s not in columns:
                        columns[s] = j
                data = [(n, c) for n, c in all_rows if n > i and not all(_blank(x) for x in c)]
                return Sheet(path, title, data, columns, labels)
        raise DatasetError(path, f"sheet '{title}': no header row with columns "
                                 f"{', '.join(required)} in the first {header_search_rows} rows")
    columns = {n.lower(): j for j, n in enumerate(names)}
    data = [(n, c) for n, c in all_rows if not all(_blank(x) for x in c)]
    return Sheet(path, title, data, columns, list(names))


def interval_from_row(sheet: Sheet, row: int, cells: tuple[object, ...], rules: LabelRules,
                      subject: str, video: str, type_: str, emotion: str | None,
                      raw_emotion: str | None, warnings: list[str]) -> LabelledInterval | None:
    """Apply the label rules to one row with 1-based frame numbers; None when dropped.

    Fractional frame numbers are floored; an apex that is blank or -1 means "no apex".
    """
    onset = sheet.number(row, cells, "onset")
    apex = sheet.number(row, cells, "apex", allow_blank=True)
    offset = sheet.number(row, cells, "offset", allow_blank=True)
    if apex is not None and apex < 0:
        apex = None
    if onset == 0 and rules.drop_onset_zero:
        warnings.append(f"{path_row(sheet, row)}: onset 0, row dropped (drop_onset_zero)")
        return None
    if onset < 0:
        raise sheet.error(row, sheet.col("onset"), f"negative onset {onset:g}")
    if offset is None or offset == 0:
        if not rules.offset_zero_uses_apex:
            raise sheet.error(row, sheet.col("offset"), "offset missing or 0")
        if apex is None:
            raise sheet.error(row, sheet.col("offset"), "offset missing or 0 and no apex to use")
        offset = apex
    on0 = max(math.floor(onset) - 1, 0)
    off0 = math.floor(offset) - 1
    apex0 = None if apex is None else max(math.floor(apex) - 1, 0)
    if off0 < on0:
        raise sheet.error(row, sheet.col("offset"),
                          f"offset {offset:g} before onset {onset:g}")
    return LabelledInterval(subject, video, on0, apex0, off0, type_, emotion, raw_emotion)


def path_row(sheet: Sheet, row: int) -> str:
    return f"{sheet.path.name}: sheet '{sheet.title}', row {row}"
