"""Exports of reviewed intervals: CSV (MEGC style), XLSX and ELAN ``.eaf``, and reading the CSV back.

Spreadsheet programs run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or tab /
carriage return) as a formula, so every text cell of a CSV or XLSX that starts with one
of those, or with the escape character ``'`` itself, gets a leading ``'`` (OWASP's advice);
:func:`read_csv` / :func:`read_xlsx` remove exactly that one character, so export and
import round-trip any text. Numbers are written as numbers and never escaped.
"""

from __future__ import annotations

import csv
import math
import mimetypes
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from metst_engine.atomic import atomic_path
from metst_engine.errors import InputError
from metst_engine.report_csv import escape_cell, unescape_cell
from metst_engine.safe_paths import input_file
from metst_engine.project.records import SOURCES, STATES, TYPES

COLUMNS: tuple[str, ...] = ("subject", "video", "onset", "apex", "offset", "type", "emotion", "state", "source",
                            "annotator", "score", "note", "onset_s", "apex_s", "offset_s")
TEXT_COLUMNS = frozenset({"subject", "video", "type", "emotion", "state", "source", "annotator", "note"})
#: Characters XML 1.0 (XLSX, EAF) cannot hold.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class ExportRow:
    """One interval as exported: frames (0-based, inclusive) and times from the video's timestamps."""

    subject: str
    video: str
    onset: int
    apex: int | None
    offset: int
    type: str
    emotion: str | None
    state: str
    source: str
    annotator: str | None
    score: float | None
    note: str
    onset_s: float | None
    apex_s: float | None
    offset_s: float | None


def _cells(row: ExportRow) -> list[Any]:
    out: list[Any] = []
    for name, value in zip(COLUMNS, astuple(row)):
        if value is None:
            out.append("")
        elif name in TEXT_COLUMNS:
            out.append(escape_cell(str(value)))
        elif name.endswith("_s"):
            out.append(round(float(value), 6))
        else:
            out.append(value)
    return out


def write_csv(path: str | Path, rows: Iterable[ExportRow]) -> Path:
    """Write rows as CSV (UTF-8 with BOM, so spreadsheet programs read the accents), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for row in rows:
            w.writerow([repr(c) if isinstance(c, float) else c for c in _cells(row)])
    return path


def write_xlsx(path: str | Path, rows: Iterable[ExportRow]) -> Path:
    """Write rows as one XLSX sheet; characters XML cannot hold become U+FFFD."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("intervals")
    ws.append(list(COLUMNS))
    for row in rows:
        ws.append([_XML_ILLEGAL.sub("\ufffd", c) if isinstance(c, str) else c for c in _cells(row)])
    path = Path(path)
    with atomic_path(path) as tmp:
        wb.save(tmp)
    return path


def _parse(source: Path, line: int, cells: Mapping[str, Any]) -> ExportRow:
    def text(col: str) -> str:
        v = cells.get(col)
        return "" if v is None else unescape_cell(str(v))

    def number(col: str, kind: type, blank_ok: bool) -> Any:
        v = cells.get(col)
        s = "" if v is None else str(v).strip()
        if not s:
            if blank_ok:
                return None
            raise InputError(source, f"row {line}, column {col}: empty")
        try:
            x = float(s)
        except ValueError:
            raise InputError(source, f"row {line}, column {col}: not a number: {s!r}") from None
        if kind is int:
            if not x.is_integer() or x < 0:
                raise InputError(source, f"row {line}, column {col}: not a frame index >= 0: {s!r}")
            return int(x)
        if not math.isfinite(x):
            raise InputError(source, f"row {line}, column {col}: not a finite number: {s!r}")
        return x

    for col in ("video",):
        if not text(col):
            raise InputError(source, f"row {line}, column {col}: empty")
    checks = (("type", TYPES, "micro"), ("state", STATES, "pending"), ("source", SOURCES, "imported"))
    values: dict[str, str] = {}
    for col, allowed, default in checks:
        values[col] = text(col) or default
        if values[col] not in allowed:
            raise InputError(source, f"row {line}, column {col}: {values[col]!r} is not one of {', '.join(allowed)}")
    onset, offset = number("onset", int, False), number("offset", int, False)
    if offset < onset:
        raise InputError(source, f"row {line}, column offset: {offset} before onset {onset}")
    return ExportRow(text("subject"), text("video"), onset, number("apex", int, True), offset, values["type"],
                     text("emotion") or None, values["state"], values["source"], text("annotator") or None,
                     number("score", float, True), text("note"), number("onset_s", float, True),
                     number("apex_s", float, True), number("offset_s", float, True))


def _check_header(source: Path, header: Sequence[str] | None) -> None:
    missing = [c for c in ("video", "onset", "offset") if c not in (header or ())]
    if missing:
        raise InputError(source, f"missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}")


def read_csv(path: str | Path) -> list[ExportRow]:
    """Read a CSV written by :func:`write_csv`; errors name the file, row and column."""
    path = input_file(path, "intervals CSV")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            _check_header(path, reader.fieldnames)
            return [_parse(path, line, row) for line, row in enumerate(reader, start=2)]
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"cannot read as CSV: {exc}") from None


def read_xlsx(path: str | Path) -> list[ExportRow]:
    """Read the sheet written by :func:`write_xlsx`."""
    from openpyxl import load_workbook

    path = input_file(path, "intervals XLSX")
    try:
        wb = load_workbook(path, read_only=True, data_only=False)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a bad file
        raise InputError(path, f"cannot read as XLSX: {exc}") from None
    try:
        rows = wb.worksheets[0].iter_rows(values_only=True)
        header = [str(c) for c in next(rows, ())]
        _check_header(path, header)
        return [_parse(path, line, dict(zip(header, r))) for line, r in enumerate(rows, start=2)]
    finally:
        wb.close()


def xml_safe(text: str) -> str:
    return _XML_ILLEGAL.sub("\ufffd", text)


def write_eaf(path: str | Path, rows: Sequence[ExportRow], media: Path | None, timestamps: np.ndarray, fps: float,
              tiers: Literal["annotator", "state"] = "annotator") -> Path:
    """ELAN file: one tier per annotator (or state); an annotation spans its frames' display times.

    An interval starts at the time of its onset frame and ends when the frame after its
    offset is shown (the video's own timestamps; one frame period past the last frame).
    """
    from pympi.Elan import Eaf

    eaf = Eaf(author="metst")
    eaf.remove_tier("default")
    path = Path(path)
    if media is not None and media.is_file():
        mime = mimetypes.guess_type(media.name)[0] or "video/*"
        rel = Path(os.path.relpath(media.resolve(), path.resolve().parent)).as_posix()
        eaf.add_linked_file(media.resolve().as_uri(), relpath=rel if rel.startswith(".") else f"./{rel}",
                            mimetype=mime)
    n = len(timestamps)
    for row in rows:
        tier = xml_safe(row.state if tiers == "state" else (row.annotator or "unassigned")) or "unnamed"
        if tier not in eaf.tiers:
            eaf.add_tier(tier, ann=None if tiers == "state" else tier)
        start = float(timestamps[row.onset])
        end = float(timestamps[row.offset + 1]) if row.offset + 1 < n else float(timestamps[row.offset]) + 1.0 / fps
        label = f"{row.emotion or 'expression'} ({row.type}, {row.state}, {row.source})"
        if row.note:
            label += f": {row.note}"
        start_ms = round(start * 1000)
        eaf.add_annotation(tier, start_ms, max(round(end * 1000), start_ms + 1), xml_safe(label))
    with atomic_path(path) as tmp:
        eaf.to_file(str(tmp))
    return path
