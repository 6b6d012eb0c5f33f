"""Reading label spreadsheets cell by cell, so messages can name sheet, Excel row and column.

openpyxl is used directly (not pandas) for workbooks because the row numbers a user sees in
Excel are needed for messages, and numbers in these sheets are sometimes stored as text;
a CSV export of a sheet is read with pandas into the same rows (line numbers, header = 1).

The dirty-row rule shared by every sheet loader lives here: a row that can be repaired is
repaired and reported (:class:`RowIssue` "repaired"), a row that cannot be used is skipped
and reported ("skipped"); one row never aborts a load. Problems of the file as a whole (not
a workbook, no header row, a naming rule contradicting itself) stay :class:`DatasetError`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from metst_engine.datasets.base import LabelledInterval, LabelRules, RowAction, RowIssue
from metst_engine.errors import DatasetError

#: A value this close to a whole number is that number (binary floating-point noise of a
#: number typed in Excel, e.g. SAMM-LV's 7284.999999999999 for 7285).
WHOLE_TOLERANCE = 1e-6


def blank(v: object) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (
        isinstance(v, float) and math.isnan(v))


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


@dataclass
class Table:
    """Raw rows of one worksheet (or CSV): (row number as the user sees it, cell values)."""

    path: Path
    title: str  # "" for a CSV file
    rows: list[tuple[int, tuple[object, ...]]]


def read_tables(path: Path) -> list[Table]:
    """Every worksheet of an .xlsx workbook, in workbook order, or the one table of a .csv."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "label sheet not found (pass its path with --sheet)")
    if path.suffix.lower() == ".csv":
        import pandas as pd

        try:
            df = pd.read_csv(path, header=None, dtype=str, keep_default_na=False,
                             skip_blank_lines=False, encoding_errors="replace")
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise DatasetError(path, f"cannot read as CSV: {exc}") from exc
        rows = [(i, tuple(None if c == "" else c for c in r))
                for i, r in enumerate(df.itertuples(index=False, name=None), start=1)]
        return [Table(path, "", rows)]
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for non-xlsx input
        raise DatasetError(path, f"cannot read as an .xlsx workbook: {exc}") from exc
    try:
        return [Table(path, ws.title, [(i, tuple(r)) for i, r in
                                       enumerate(ws.iter_rows(values_only=True), start=1)])
                for ws in wb.worksheets]
    finally:
        wb.close()


class BadRow(Exception):
    """This row cannot be used (internal: the loader's row loop reports it as skipped)."""

    def __init__(self, col: int | None, reason: str, detail: str):
        super().__init__(detail)
        self.col, self.reason, self.detail = col, reason, detail


@dataclass
class Sheet:
    """Rows of one worksheet: (Excel row number, cell values), blank rows left out."""

    path: Path
    title: str
    rows: list[tuple[int, tuple[object, ...]]]
    columns: dict[str, int]  # header name (lower-case) -> column index
    names: list[str]  # display name of each column index

    def where(self, row: int, col: int | None = None) -> str:
        at = f"sheet '{self.title}', row {row}" if self.title else f"row {row}"
        if col is None:
            return at
        return f"{at}, {self.column(col)}"

    def column(self, col: int) -> str:
        name = self.names[col] if col < len(self.names) and self.names[col] else "?"
        return f"column {_column_letter(col)} ({name})"

    def error(self, row: int, col: int, problem: str) -> DatasetError:
        return DatasetError(self.path, f"{self.where(row, col)}: {problem}")

    def col(self, name: str) -> int:
        return self.columns[name.lower()]

    def value(self, cells: tuple[object, ...], name: str) -> object:
        i = self.col(name)
        return cells[i] if i < len(cells) else None

    def number(self, cells: tuple[object, ...], name: str, allow_blank: bool = False) -> float | None:
        """A numeric cell (numbers stored as text accepted); None for a blank if allowed."""
        i = self.col(name)
        v = cells[i] if i < len(cells) else None
        if blank(v):
            if allow_blank:
                return None
            raise BadRow(i, f"{name.lower()} empty", "empty; a frame number is needed")
        if isinstance(v, bool):
            raise BadRow(i, f"{name.lower()} not a number", f"not a number: {v!r}")
        try:
            x = float(v) if isinstance(v, (int, float)) else float(str(v).strip())
        except (ValueError, OverflowError):
            raise BadRow(i, f"{name.lower()} not a number", f"not a number: {v!r}") from None
        if not math.isfinite(x) or abs(x) >= 2**31:
            raise BadRow(i, f"{name.lower()} not a number",
                         f"not a frame number: {v!r}; write the frame number or leave the cell empty")
        return x

    def text(self, cells: tuple[object, ...], name: str) -> str:
        v = self.value(cells, name)
        if blank(v):
            return ""
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()


def expression_type(sheet: Sheet, cells: tuple[object, ...], column: str, spelled: str) -> str:
    """"micro" or "macro" from a type cell that starts with either word (any case); else the row is unusable."""
    t = sheet.text(cells, column).lower()
    for kind in ("micro", "macro"):
        if t.startswith(kind):
            return kind
    raise BadRow(sheet.col(column), "unknown type", f"type {t!r} is neither {spelled}")


def sheet_from_table(table: Table, required: Sequence[str] = (), header_search_rows: int = 20,
                     header: bool = True, names: Sequence[str] = ()) -> Sheet:
    """With ``header``, the header row is the first row (within ``header_search_rows``)
    holding every ``required`` name (a title block above it is skipped); without, ``names``
    name the columns by position."""
    path, title, all_rows = table.path, table.title, table.rows
    req = [r.lower() for r in required]
    if header:
        for i, cells in all_rows[:header_search_rows]:
            labels = [("" if blank(c) else str(c).strip()) for c in cells]
            lower = [s.lower() for s in labels]
            if all(r in lower for r in req):
                columns: dict[str, int] = {}
                for j, s in enumerate(lower):
                    if s and s not in columns:
                        columns[s] = j
                data = [(n, c) for n, c in all_rows if n > i and not all(blank(x) for x in c)]
                return Sheet(path, title, data, columns, labels)
        at = f"sheet '{title}'" if title else "the table"
        raise DatasetError(path, f"{at}: no header row with columns {', '.join(required)} in the "
                                 f"first {header_search_rows} rows (is this the right file? pass it with --sheet)")
    columns = {n.lower(): j for j, n in enumerate(names)}
    data = [(n, c) for n, c in all_rows if not all(blank(x) for x in c)]
    return Sheet(path, title, data, columns, list(names))


def read_sheet(path: Path, required: Sequence[str], header_search_rows: int = 20,
               header: bool = True, names: Sequence[str] = ()) -> Sheet:
    """First worksheet of ``path`` (see :func:`sheet_from_table`)."""
    return sheet_from_table(read_tables(path)[0], required, header_search_rows, header, names)


class RowLog:
    """Collects the repaired and skipped rows of one sheet as :class:`RowIssue`."""

    def __init__(self, sheet: Sheet, issues: list[RowIssue]):
        self.sheet, self.issues = sheet, issues

    def add(self, row: int, action: RowAction, reason: str, detail: str, col: int | None = None) -> None:
        if col is not None:
            detail = f"{self.sheet.column(col)}: {detail}"
        self.issues.append(RowIssue(self.sheet.path.name, self.sheet.title, row, action, reason, detail))

    def repaired(self, row: int, reason: str, detail: str, col: int | None = None) -> None:
        self.add(row, "repaired", reason, detail, col)

    def skipped(self, row: int, bad: BadRow) -> None:
        self.add(row, "skipped", bad.reason, f"{bad.detail}; row skipped", bad.col)


def frame_number(value: float, rules: LabelRules, log: RowLog, row: int, col: int) -> int:
    """A sheet frame number as a whole number, by ``rules.frame_numbers`` (see LabelRules)."""
    if rules.frame_numbers == "floor":
        return math.floor(value)
    whole = round(value)
    if abs(value - whole) <= WHOLE_TOLERANCE:
        return int(whole)
    n = math.floor(value + 0.5)
    log.repaired(row, "fractional frame number", f"{value:g} is not a whole frame number; read as {n}", col)
    return n


def interval_from_row(sheet: Sheet, row: int, cells: tuple[object, ...], rules: LabelRules,
                      subject: str, video: str, type_: str, emotion: str | None,
                      raw_emotion: str | None, log: RowLog) -> LabelledInterval | None:
    """Apply the label rules to one row with 1-based frame numbers; None when the rules drop
    it (reported). Raises :class:`BadRow` for a row that cannot be used.

    An apex that is blank or negative (SAMM-LV's -1) means "no apex"; an offset of 0 means
    "not annotated" and takes the apex (``offset_zero_uses_apex``).
    """
    c_on, c_ap, c_off = sheet.col("onset"), sheet.col("apex"), sheet.col("offset")
    onset_v = sheet.number(cells, "onset")
    apex_v = sheet.number(cells, "apex", allow_blank=True)
    offset_v = sheet.number(cells, "offset", allow_blank=True)
    assert onset_v is not None
    onset = frame_number(onset_v, rules, log, row, c_on)
    apex = None if apex_v is None or apex_v < 0 else frame_number(apex_v, rules, log, row, c_ap)
    offset = None if offset_v is None else frame_number(offset_v, rules, log, row, c_off)
    if onset < 0:
        raise BadRow(c_on, "negative onset", f"negative onset {onset_v:g}")
    if onset == 0 and rules.drop_onset_zero:
        log.skipped(row, BadRow(c_on, "onset 0 (reference rules drop it)",
                                "onset 0, dropped as the public code does"))
        return None
    offset_text = "" if offset_v is None else f"{offset_v:g}"
    if offset is None or offset == 0:
        if not rules.offset_zero_uses_apex:
            raise BadRow(c_off, "offset missing or 0", "offset missing or 0")
        if not apex:
            raise BadRow(c_off, "offset 0 and no apex", "offset missing or 0 and no apex to use")
        offset, offset_text = apex, f"{apex_v:g} (the apex; the offset is 0)"
    if offset < onset:
        raise BadRow(c_off, "offset before onset", f"offset {offset_text} before onset {onset_v:g}")
    if onset == 0:
        log.repaired(row, "onset 0", "onset 0 (frames count from 1); read as the first frame", c_on)
        onset = 1
    if apex == 0:
        log.repaired(row, "apex 0", "apex 0 is not a frame (frames count from 1); no apex", c_ap)
        apex = None
    elif apex is not None and not onset <= apex <= offset and rules.apex == "repair":
        side = "before the onset" if apex < onset else "after the offset"
        log.repaired(row, "apex outside the interval",
                     f"apex {apex_v:g} {side} ({onset_v:g}-{offset_v:g}); no apex", c_ap)
        apex = None
    return LabelledInterval(subject, video, onset - 1, None if apex is None else apex - 1, offset - 1,
                            type_, emotion, raw_emotion)
