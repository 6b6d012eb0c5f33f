"""Interval tables: every CSV (and XLSX) metst writes or reads, described by column schemas.

One rule set for predictions (:mod:`metst_engine.intervals_io`), manifests
(:mod:`metst_engine.datasets.manifest`), project exports (:mod:`metst_engine.project.exports`)
and report tables (:func:`write_report_csv`):

- written atomically (:func:`metst_engine.atomic.atomic_path`): a killed run leaves the old
  file or the new one;
- one cell rule: a text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return
  (which a spreadsheet would run as a formula: CSV injection), or with the escape ``'``
  itself, gets a leading ``'``; reading removes exactly that one character, so any text
  round-trips. Numbers are written as numbers, NaN and None as an empty cell;
- one number parser: numbers finite; frames whole, ``>= 0`` and below :data:`MAX_FRAME`,
  counted from 0 or (``base=1``) from 1 in the file, always 0-based inside metst;
- reading refuses what is not a regular file (FIFOs, devices), and every error names the
  file, the row (its first line; the header is row 1) and the column.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .atomic import atomic_path
from .errors import InputError
from .safe_paths import input_file

#: First characters that make a spreadsheet run a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED_STARTS = (*FORMULA_STARTS, "'")   # a leading quote is escaped too, so unescaping is exact
#: Frames at or above this are refused (no video of 2^31 frames exists; bigger is a broken file).
MAX_FRAME = 2**31
#: Characters XML 1.0 (XLSX, EAF) cannot hold.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")

Kind = Literal["text", "frame", "number"]


def escape_cell(text: str) -> str:
    """Make a text cell inert in spreadsheet programs (reversible with :func:`unescape_cell`)."""
    return "'" + text if text.startswith(_ESCAPED_STARTS) else text


def unescape_cell(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(_ESCAPED_STARTS) else text


def xml_safe(text: str) -> str:
    """``text`` with the characters XML cannot hold replaced by U+FFFD."""
    return _XML_ILLEGAL.sub("\ufffd", text)


def safe_cell(value: object, fmt: str = "") -> str:
    """One CSV cell: None and NaN empty, booleans ``true`` / ``false``, numbers as written by
    ``repr`` (or ``format(value, fmt)``), text escaped against formulas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "" if math.isnan(value) else (format(value, fmt) if fmt else repr(value))
    return escape_cell(str(value))


def write_rows(path: str | Path, rows: Iterable[Sequence[object]], *, bom: bool = False,
               line_end: str = "\r\n", fmts: Sequence[str] = ()) -> Path:
    """Write ``rows`` (the first is the header) atomically, each cell through :func:`safe_cell`
    (``fmts[i]`` formats the numbers of column ``i``); ``bom``: UTF-8 with a byte-order mark."""
    out = Path(path)
    with atomic_path(out) as tmp, open(tmp, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as fh:
        writer = csv.writer(fh, lineterminator=line_end)
        for n, row in enumerate(rows, start=1):
            cells = [safe_cell(c, fmts[i] if i < len(fmts) else "") for i, c in enumerate(row)]
            try:
                writer.writerow(cells)
            except UnicodeEncodeError:
                raise InputError(out, f"row {n} holds text that is not valid UTF-8; give it in plain text") from None
    return out


def write_report_csv(path: str | Path, header: Sequence[object], rows: Iterable[Sequence[object]]) -> Path:
    """A report table (any columns, rows of any length) that a spreadsheet opens safely."""
    return write_rows(path, [header, *rows])


@dataclass(frozen=True)
class Column:
    """One column: ``kind`` says how its cells are written and parsed; ``fmt`` formats its
    numbers in CSV (``""``: ``repr``); ``places`` rounds them before writing."""

    name: str
    kind: Kind = "text"
    fmt: str = ""
    places: int | None = None


@dataclass(frozen=True)
class Schema:
    """The columns of one kind of interval table and how its files are written and read.

    ``required``: columns a file must have to be read. ``error``: the exception raised for a
    bad file; ``row_word`` and ``hint`` shape its message (``"line 3, column onset: ...; hint"``).
    ``strip``: text cells are read without surrounding spaces. ``bom`` / ``line_end``: how the
    CSV is written (UTF-8 with a byte-order mark for spreadsheet programs; the line ending).
    """

    what: str
    columns: tuple[Column, ...]
    required: tuple[str, ...]
    error: type[InputError] = InputError
    row_word: str = "row"
    hint: str = ""
    strip: bool = True
    bom: bool = False
    line_end: str = "\r\n"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def values(self, path: Path, row: Mapping[str, object], base: int = 0) -> list[object]:
        """The cells of ``row`` (by column name; missing: None) as typed values: frames + ``base``."""
        out: list[object] = []
        for col in self.columns:
            v = row.get(col.name)
            if v is None:
                out.append(None)
            elif col.kind == "frame":
                out.append(int(v) + base)                              # type: ignore[call-overload]
            elif col.kind == "number":
                x = float(v) if not isinstance(v, int) else v          # type: ignore[arg-type]
                out.append(round(x, col.places) if col.places is not None else x)
            else:
                out.append(_utf8(path, col.name, str(v)))
        return out

    def write_csv(self, path: str | Path, rows: Iterable[Mapping[str, object]], base: int = 0) -> Path:
        path = Path(path)
        body = (self.values(path, r, base) for r in rows)
        return write_rows(path, [self.names, *body], bom=self.bom, line_end=self.line_end,
                          fmts=[c.fmt for c in self.columns])

    def write_xlsx(self, path: str | Path, rows: Iterable[Mapping[str, object]], sheet: str) -> Path:
        """One sheet; text escaped as in CSV, characters XML cannot hold become U+FFFD."""
        from openpyxl import Workbook  # only XLSX exports need it; keeps `metst` start fast

        wb = Workbook(write_only=True)
        ws = wb.create_sheet(sheet)
        ws.append(list(self.names))
        path = Path(path)
        for r in rows:
            ws.append(["" if v is None else xml_safe(escape_cell(v)) if isinstance(v, str) else v
                       for v in self.values(path, r)])
        with atomic_path(path) as tmp:
            wb.save(tmp)
        return path

    def read_csv(self, path: str | Path, base: int = 0) -> list[Row]:
        """The data rows of a CSV (UTF-8, with or without a byte-order mark); blank lines skipped."""
        path = self._readable(path)
        try:
            with open(path, newline="", encoding="utf-8-sig") as fh:
                return self._rows(path, _csv_records(csv.reader(fh)), base)
        except UnicodeDecodeError as exc:
            raise self.error(path, f"not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV "
                                   f"({','.join(self.names)})") from None
        except csv.Error as exc:
            raise self.error(path, f"cannot read as CSV: {exc}; expected {','.join(self.names)}") from None

    def read_xlsx(self, path: str | Path) -> list[Row]:
        """The data rows of the first sheet of an XLSX workbook."""
        from openpyxl import load_workbook  # only XLSX imports need it; keeps `metst` start fast

        path = self._readable(path)
        try:
            wb = load_workbook(path, read_only=True, data_only=False)
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a bad file
            raise self.error(path, f"cannot read as XLSX: {exc}") from None
        try:
            records = enumerate(wb.worksheets[0].iter_rows(values_only=True), start=1)
            return self._rows(path, ((n, ["" if c is None else str(c) for c in r])
                                     for n, r in records if any(c is not None for c in r)), 0)
        finally:
            wb.close()

    def _readable(self, path: str | Path) -> Path:
        try:
            return input_file(path, self.what)
        except InputError as exc:
            raise self.error(Path(path), exc.problem) from None

    def _rows(self, path: Path, records: Iterator[tuple[int, list[str]]], base: int) -> list[Row]:
        """Rows from (line, cells) records, the first being the header (names matched without case)."""
        _, header = next(records, (1, []))
        names = [h.strip().lower() for h in header]
        missing = [c for c in self.required if c not in names]
        if missing:
            raise self.error(path, f"missing column(s) {', '.join(missing)}; expected {','.join(self.names)}")
        rows = []
        for line, cells in records:
            extra = [c for c in cells[len(names):] if c.strip()]
            if extra:
                raise self.error(path, f"{self.row_word} {line}: {len(cells)} cells but {len(names)} "
                                       f"columns; remove {extra[0]!r} or name its column")
            rows.append(Row(self, path, line, dict(zip(names, cells)), base))
        return rows


def _csv_records(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    """(first line, cells) of each non-blank CSV record (a quoted cell may span lines)."""
    start = 1
    for cells in reader:
        line, start = start, reader.line_num + 1                       # type: ignore[attr-defined]
        if cells:
            yield line, cells


def _utf8(path: Path, column: str, text: str) -> str:
    """A text cell UTF-8 can hold (command-line text may carry undecodable bytes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(path, f"column {column}: {text!r} is not valid UTF-8 text; give it in plain text") from None
    return text


@dataclass(frozen=True)
class Row:
    """One data row as read: where it is and its cells by (lower-case) column name."""

    schema: Schema
    path: Path
    line: int
    cells: Mapping[str, str]
    base: int = 0

    def error(self, column: str | None, problem: str) -> InputError:
        where = f"{self.schema.row_word} {self.line}" + ("" if column is None else f", column {column}")
        return self.schema.error(self.path, f"{where}: {problem}{self.schema.hint}")

    def raw(self, column: str) -> str:
        return self.cells.get(column) or ""

    def blank(self, column: str) -> bool:
        return not self.raw(column).strip()

    def text(self, column: str, required: bool = False) -> str:
        """The text as written before escaping (stripped when the schema says so)."""
        raw = self.raw(column)
        text = unescape_cell(raw.strip() if self.schema.strip else raw)
        if required and not text:
            raise self.error(column, "empty")
        return text

    def number(self, column: str, blank_ok: bool = True) -> float | None:
        """A finite number (None for an empty cell when ``blank_ok``)."""
        s = self.raw(column).strip()
        if not s:
            if blank_ok:
                return None
            raise self.error(column, "empty")
        try:
            x = float(s)
        except ValueError:
            raise self.error(column, f"not a number: {s!r}") from None
        if not math.isfinite(x):
            raise self.error(column, f"not a finite number: {s!r}")
        return x

    def frame(self, column: str, blank_ok: bool = False) -> int | None:
        """A 0-based frame index (the file counts from ``base``)."""
        x = self.number(column, blank_ok)
        if x is None:
            return None
        s = self.raw(column).strip()
        if not x.is_integer() or x < self.base:
            if x == 0 and self.base == 1:
                raise self.error(column, "frame 0 in a file read as one-based")
            raise self.error(column, f"not a frame index >= {self.base}: {s!r}")
        if x - self.base >= MAX_FRAME:
            raise self.error(column, f"frame number too large: {s!r}")
        return int(x) - self.base

    def interval(self, onset: int, apex: int | None, offset: int) -> None:
        """Refuse an offset before the onset or an apex outside [onset, offset] (as the file counts)."""
        b = self.base
        if offset < onset:
            raise self.error("offset", f"{offset + b} before onset {onset + b}")
        if apex is not None and not onset <= apex <= offset:
            raise self.error("apex", f"{apex + b} outside [{onset + b}, {offset + b}]")


__all__ = ["FORMULA_STARTS", "MAX_FRAME", "Column", "Row", "Schema", "escape_cell", "safe_cell", "unescape_cell",
           "write_report_csv", "write_rows", "xml_safe"]
