"""CAS(ME)^2 in its released layout: the ``code_final`` workbook and ``rawpic/``.

The workbook (released as ``CAS(ME)^2code_final.xlsx``) holds three sheets:

- the label sheet (the first, ``CASFEcode_final``), without header row, one row per
  expression: subject number (1-22), expression name (``anger1_3``: expression 3 of video
  ``anger1``), onset, apex, offset (1-based; offset 0 = not annotated), AUs, emotion class
  (negative / positive / surprise / others), type (``micro-expression`` /
  ``macro-expression``), self-reported emotion;
- ``naming rule1``: folder number of the subject (15 for ``rawpic/s15``), a label, the
  label sheet's subject number (1);
- ``naming rule2``: stimulus code (``0401``, stored as text or as the number 401), the
  label sheet's video name (``anger1``).

Frames are in ``rawpic/s15/15_0401girlcrashing/img001.jpg`` ..., frame index = number - 1.
One video per frame folder: video id = the folder's name, subject = ``s<NN>``.

A row finds its folder through the naming rules: subject 1 -> folder number 15, video
``anger1`` -> code 0401 -> the folder of ``rawpic/s15`` named ``15_0401...``. Without the
naming-rule sheets (a CSV export, a copy of the first sheet) the published rules in
``resources/casme2_naming.json`` are used, with a warning. A sheet whose subject and video
columns already name folders (``s15``, ``15_0401girlcrashing`` or ``0401``) is matched to
the folders directly. Folder names are matched ignoring case.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from metst_engine.datasets._sheets import (
    BadRow,
    RowLog,
    Sheet,
    Table,
    blank,
    expression_type,
    interval_from_row,
    read_tables,
    sheet_from_table,
)
from metst_engine.datasets.base import (
    Dataset,
    LabelledInterval,
    LabelRules,
    RowIssue,
    VideoEntry,
    load_emotion_map,
)
from metst_engine.datasets.public import (
    assemble,
    emotion_of,
    find_sheet,
    read_rows,
    subfolders,
)
from metst_engine.errors import DatasetError
from metst_engine.resources_path import resource_path

CASME2_COLUMNS = ("subject", "video", "onset", "apex", "offset", "au", "emotion", "type",
                  "self-report")
CASME2_FPS = 30.0
#: Default label-sheet names inside the dataset root, tried in this order.
CASME2_SHEETS = ("code_final.xlsx", "CAS(ME)^2code_final.xlsx")

_SUBJECT_DIR = re.compile(r"s?0*(\d+)", re.IGNORECASE)
_VIDEO_DIR = re.compile(r"0*(\d+)_(\d{4})", re.IGNORECASE)  # 15_0401girlcrashing
_EXPRESSION = re.compile(r"(.+?)_(\d+)")  # anger1_3
_K = TypeVar("_K")
_V = TypeVar("_V")


@dataclass(frozen=True)
class NamingRules:
    """subjects: label-sheet subject number -> folder number; videos: lower-case video name
    -> 4-digit stimulus code; source: where they were read (for messages)."""

    subjects: dict[int, int]
    videos: dict[str, str]
    source: str


def _whole(v: object) -> int | None:
    """15, 15.0, "15", "s15", "S15" -> 15; anything else None."""
    if isinstance(v, bool) or blank(v):
        return None
    if isinstance(v, (int, float)):
        return int(v) if float(v).is_integer() else None
    m = re.fullmatch(r"s?\s*0*(\d+)(?:\.0+)?", str(v).strip(), re.IGNORECASE)
    return int(m.group(1)) if m else None


def _code(v: object) -> str | None:
    """Stimulus code: 401, 401.0, "0401" -> "0401"."""
    n = _whole(v)
    if n is None or isinstance(v, str) and str(v).strip().lower().startswith("s"):
        return None
    return f"{n:04d}"


def _rule_table(tables: list[Table], number: int) -> Table | None:
    for t in tables:
        if re.sub(r"[\s_]", "", t.title.lower()) == f"namingrule{number}":
            return t
    return None


def _cell(cells: tuple[object, ...], i: int) -> object:
    return cells[i] if i < len(cells) else None


def _published_rules() -> tuple[dict[int, int], dict[str, str]]:
    data = json.loads(resource_path("casme2_naming.json").read_text(encoding="utf-8"))
    return ({int(k): int(v) for k, v in data["subjects"].items()},
            {k.lower(): v for k, v in data["videos"].items()})


def _subject_rule(cells: tuple[object, ...]) -> tuple[int, int, str] | None:
    """A ``naming rule1`` row: (subject number, folder number, how a message names it), None if not one."""
    folder, number = _whole(_cell(cells, 0)), _whole(_cell(cells, 2))
    return None if folder is None or number is None else (number, folder, f"subject {number}")


def _video_rule(cells: tuple[object, ...]) -> tuple[str, str, str] | None:
    """A ``naming rule2`` row: (lower-case video name, stimulus code, how a message names it), None if not one."""
    code, name = _code(_cell(cells, 0)), _cell(cells, 1)
    return None if code is None or blank(name) else (str(name).strip().lower(), code, f"video {name!r}")


def _rule_map(table: Table, layout: str, read: Callable[[tuple[object, ...]], tuple[_K, _V, str] | None],
              show: Callable[[_V], str], warnings: list[str]) -> dict[_K, _V]:
    """key -> value from the rows of a naming-rule sheet (``read``); a row that is not ``layout`` is a warning
    (row 1 may be a header), a key mapped to two values is an error."""
    out: dict[_K, _V] = {}
    for row, cells in table.rows:
        if all(blank(c) for c in cells):
            continue
        rule = read(cells)
        if rule is None:
            if row > 1:  # row 1 may be a header
                warnings.append(f"{table.path.name}: sheet '{table.title}', row {row}: not {layout}; ignored")
            continue
        key, value, named = rule
        if out.get(key, value) != value:
            raise DatasetError(table.path, f"sheet '{table.title}', row {row}: {named} is mapped to "
                                           f"{show(out[key])} and to {show(value)}; correct the sheet")
        out[key] = value
    return out


def read_naming_rules(tables: list[Table], warnings: list[str]) -> NamingRules:
    """The workbook's naming-rule sheets; the published rules for a sheet that is missing."""
    path = tables[0].path
    published_subjects, published_videos = _published_rules()
    t1, t2 = _rule_table(tables, 1), _rule_table(tables, 2)
    sources = [f"sheet '{t.title}'" for t in (t1, t2) if t is not None]
    subjects = published_subjects if t1 is None else _rule_map(
        t1, "<folder number> | <label> | <subject number>", _subject_rule, lambda f: f"folder s{f}", warnings)
    videos = published_videos if t2 is None else _rule_map(t2, "<code> | <video name>", _video_rule, str, warnings)
    if t1 is None or t2 is None:
        missing = " and ".join(n for n, t in (("naming rule1", t1), ("naming rule2", t2)) if t is None)
        warnings.append(f"{path.name}: no sheet '{missing}'; using the naming rules CAS(ME)^2 publishes "
                        f"(resources/casme2_naming.json)")
        sources.append("the published naming rules")
    return NamingRules(subjects, videos, " and ".join(sources))


def _label_table(tables: list[Table]) -> Table:
    """The label sheet: the first sheet that is not a naming rule."""
    rules = {id(_rule_table(tables, 1)), id(_rule_table(tables, 2))}
    for t in tables:
        if id(t) not in rules:
            return t
    raise DatasetError(tables[0].path, "no label sheet (only naming-rule sheets)")


def load_casme2(root: str | Path, label_sheet: str | Path | None = None,
                rules: LabelRules | None = None,
                emotion_map: dict[str, str] | None = None) -> Dataset:
    """CAS(ME)^2: the ``code_final`` workbook (default ``<root>/code_final.xlsx`` or
    ``<root>/CAS(ME)^2code_final.xlsx``) and the frame folders under ``<root>/rawpic/``."""
    root = Path(root)
    rules = rules or LabelRules()
    if label_sheet is None:
        present = [n for n in CASME2_SHEETS if (root / n).is_file()]
        label_sheet = root / present[0] if present else None
    sheet_path = find_sheet(root, label_sheet, CASME2_SHEETS[0])
    emap = load_emotion_map("casme2") if emotion_map is None else emotion_map
    tables = read_tables(sheet_path)
    warnings: list[str] = []
    naming = read_naming_rules(tables, warnings)
    sheet = sheet_from_table(_label_table(tables), header=False, names=CASME2_COLUMNS)
    if sheet.rows and any(str(c).strip().lower() == "onset" for c in sheet.rows[0][1] if not blank(c)):
        sheet.rows = sheet.rows[1:]  # a header row someone added
    issues: list[RowIssue] = []
    log = RowLog(sheet, issues)

    rawpic = root / "rawpic"
    entries: dict[str, VideoEntry] = {}
    by_code: dict[tuple[int, str], list[VideoEntry]] = {}
    subject_dirs: dict[int, Path] = {}
    for sub_name, sub_dir in subfolders(rawpic).items():
        m = _SUBJECT_DIR.fullmatch(sub_name)
        subject = f"s{int(m.group(1))}" if m else sub_name
        if m:
            subject_dirs[int(m.group(1))] = sub_dir
        for name, d in subfolders(sub_dir).items():
            if name in entries:
                raise DatasetError(d, f"two frame folders called {name} ({entries[name].path.parent.name} "
                                      f"and {sub_name})")
            entries[name] = entry = VideoEntry(subject, name, d, CASME2_FPS, frame_numbering="number_minus_1")
            v = _VIDEO_DIR.match(name)
            if v:
                by_code.setdefault((int(v.group(1)), v.group(2)), []).append(entry)

    def read_row(row: int, cells: tuple[object, ...]) -> tuple[LabelledInterval | None, VideoEntry]:
        entry = _entry_for_row(sheet, cells, naming, by_code, subject_dirs, rawpic, entries)
        type_ = expression_type(sheet, cells, "type", "micro- nor macro-expression")
        emotion, raw = emotion_of(sheet, row, sheet.value(cells, "emotion"), emap, warnings)
        return interval_from_row(sheet, row, cells, rules, entry.subject, entry.video, type_, emotion, raw, log), entry

    labelled = read_rows(sheet, log, entries, read_row)
    return assemble("CAS(ME)^2", entries, labelled, warnings, issues, len(sheet.rows))


def _entry_for_row(sheet: Sheet, cells: tuple[object, ...], naming: NamingRules,
                   by_code: dict[tuple[int, str], list[VideoEntry]], subject_dirs: dict[int, Path],
                   rawpic: Path, entries: dict[str, VideoEntry]) -> VideoEntry:
    """The video (folder) of a label row: existing, or a new entry for a missing folder."""
    subject_raw, video_raw = sheet.text(cells, "subject"), sheet.text(cells, "video")
    c_sub, c_vid = sheet.col("subject"), sheet.col("video")
    if not subject_raw or not video_raw:
        col = c_sub if not subject_raw else c_vid
        raise BadRow(col, f"{'subject' if col == c_sub else 'video'} empty", "empty")
    if subject_raw.lower().startswith("s"):  # already a folder name: s15
        folder_no = _whole(subject_raw)
    else:
        number = _whole(subject_raw)
        if number is None:
            raise BadRow(c_sub, "subject not a number", f"subject {subject_raw!r} is not a number")
        folder_no = naming.subjects.get(number)
        if folder_no is None:
            raise BadRow(c_sub, "subject not in the naming rules",
                         f"subject {number} is not in {naming.source}")
    if folder_no is None:
        raise BadRow(c_sub, "subject not a number", f"subject {subject_raw!r} is not a number")
    m = _EXPRESSION.fullmatch(video_raw)
    stem = m.group(1) if m else video_raw
    code = naming.videos.get(stem.lower())
    if code is None:
        direct = _VIDEO_DIR.match(video_raw) or re.fullmatch(r"(\d{4})\D*", video_raw)
        if direct is None:
            raise BadRow(c_vid, "video not in the naming rules",
                         f"video {stem!r} is not in {naming.source}")
        code = direct.group(direct.lastindex or 1)
    hits = by_code.get((folder_no, code), [])
    if len(hits) > 1:
        raise DatasetError(hits[0].path.parent, f"subject s{folder_no}, video {code}: several frame folders "
                                                f"({', '.join(e.video for e in hits)}); keep one")
    if hits:
        return hits[0]
    vid = f"{folder_no}_{code}"
    if vid in entries:
        return entries[vid]
    sub_dir = subject_dirs.get(folder_no, rawpic / f"s{folder_no}")
    return VideoEntry(f"s{folder_no}", vid, sub_dir / vid, CASME2_FPS, frame_numbering="number_minus_1")
