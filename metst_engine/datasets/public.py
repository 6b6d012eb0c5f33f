"""Loaders for the public long-video ME datasets in their released layouts.

Video ids (``VideoEntry.video``), unique per dataset and safe as file names:

- CAS(ME)^3: ``spNO.<n>_<letter>`` (e.g. ``spNO.1_a``), subject ``spNO.<n>``;
  frames ``data/spNO.<n>/<letter>/color/<int>.jpg``, frame index = file number - 1.
  The sheet's letter finds its folder regardless of case (the sheet writes ``J`` for
  folder ``j``); two folders differing only in case are an error.
- SAMM-LV: ``<sub>_<vid>`` (e.g. ``006_1``, the folder name), subject ``<sub>``;
  frames ``SAMM_longvideos/<sub>_<vid>/<sub>_<vid>_<5-digit>.jpg``, index = sorted position.
- CAS(ME)^2: the frame folder's name (e.g. ``15_0401girlcrashing``), subject ``s15``;
  see :mod:`metst_engine.datasets.casme2`.

Sheet frame numbers are 1-based and become 0-based source frames; `LabelRules` decide
offset-0, onset-0, fractional and dirty rows; a row that cannot be used is skipped and
reported in ``Dataset.row_issues``, never aborting the load. Labels are mapped with
``resources/emotions/<dataset>.json``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from metst_engine.datasets._sheets import (
    BadRow,
    RowLog,
    Sheet,
    expression_type,
    interval_from_row,
    read_sheet,
)
from metst_engine.datasets.base import (
    Dataset,
    LabelledInterval,
    LabelRules,
    RowIssue,
    VideoEntry,
    load_emotion_map,
    map_emotion,
    natural_key,
)
from metst_engine.errors import DatasetError

CASME3_COLUMNS = ("Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class",
                  "emotion")
SAMMLV_COLUMNS = ("Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset",
                  "Duration", "Type", "Action Units", "Notes")

CASME3_FPS = 30.0
SAMMLV_FPS = 200.0

#: Default label-sheet names inside a dataset root (``--sheet`` / ``label_sheet`` overrides).
CASME3_SHEET = "casme3_label.xlsx"
SAMMLV_SHEET = "SAMM_LongVideos_V3_Release.xlsx"
SAMMLV_EMOTION_SHEET = "SAMM_Micro_FACS_Codes_v2.xlsx"


def find_sheet(root: Path, given: str | Path | None, default_name: str) -> Path:
    """The label sheet: ``given`` if set, else ``root/default_name``."""
    if given is not None:
        p = Path(given)
        if not p.is_file():
            raise DatasetError(p, "label sheet not found")
        return p
    p = root / default_name
    if p.is_file():
        return p
    raise DatasetError(root, f"label sheet {default_name} not found here; downloads often carry "
                             f"another name: pass the file with --sheet PATH")


def match_name(names: dict[str, Path], wanted: str, where: Path) -> Path | None:
    """The entry of ``names`` (folder name -> path) called ``wanted``: the exact name, else the
    one name equal to it ignoring case; None when there is none. Several names that differ
    only in case, none exact, are an error (the sheet cannot say which it means)."""
    if wanted in names:
        return names[wanted]
    hits = [n for n in names if n.lower() == wanted.lower()]
    if len(hits) > 1:
        raise DatasetError(where, f"{wanted!r} matches several folders that differ only in case "
                                  f"({', '.join(sorted(hits))}); rename one of them")
    return names[hits[0]] if hits else None


def subfolders(folder: Path) -> dict[str, Path]:
    """Sub-folders of ``folder`` by name (empty when it does not exist), in natural order."""
    if not folder.is_dir():
        return {}
    return {d.name: d for d in sorted(folder.iterdir(), key=lambda p: natural_key(p.name)) if d.is_dir()}


def assemble(name: str, entries: dict[str, VideoEntry], labelled: list[LabelledInterval],
             warnings: list[str], issues: list[RowIssue], rows_read: int) -> Dataset:
    for iv in labelled:
        entry = entries.get(iv.video)
        if entry is None:
            raise AssertionError(iv.video)  # loaders create an entry for every labelled video
        entry.intervals.append(iv)
    videos = sorted(entries.values(), key=lambda v: natural_key(v.video))
    for v in videos:
        v.intervals.sort(key=lambda iv: (iv.onset, iv.offset))
        if not v.path.exists():
            warnings.append(f"{v.video}: frame folder {v.path} not found")
    if rows_read and not labelled and issues:
        first = "; ".join(i.message() for i in issues[:3])
        raise DatasetError(issues[0].file, f"no usable row in {rows_read} (is this the right sheet?): {first}")
    return Dataset(name, videos, warnings, issues, rows_read)


#: Reads one label row ``(row, cells)``: its interval (None when the rules drop it) and the entry of its video.
RowReader = Callable[[int, tuple[object, ...]], tuple[LabelledInterval | None, VideoEntry]]


def read_rows(sheet: Sheet, log: RowLog, entries: dict[str, VideoEntry], read_row: RowReader) -> list[LabelledInterval]:
    """The intervals of every row of ``sheet`` (``read_row``); a row raising :class:`BadRow` is logged as
    skipped. A video with an interval and no entry yet (no frame folder) is added with the entry ``read_row`` made."""
    labelled: list[LabelledInterval] = []
    for row, cells in sheet.rows:
        try:
            iv, entry = read_row(row, cells)
        except BadRow as bad:
            log.skipped(row, bad)
            continue
        if iv is not None:
            entries.setdefault(entry.video, entry)
            labelled.append(iv)
    return labelled


def emotion_of(sheet: Sheet, row: int, label: object, emap: dict[str, str],
               warnings: list[str]) -> tuple[str | None, str | None]:
    """:func:`map_emotion` of a row's label; a label the emotion map lacks is a warning naming the row."""
    emotion, raw = map_emotion(label, emap)
    if raw is not None and emotion is None:
        warnings.append(f"{sheet.path.name}: {sheet.where(row)}: emotion {raw!r} not in the emotion map")
    return emotion, raw


# ---------------------------------------------------------------- CAS(ME)^3
def _casme3_subject(raw: str) -> str:
    m = re.fullmatch(r"(?:spno\.?)?\s*(\d+)(?:\.0)?", raw.strip(), flags=re.IGNORECASE)
    return f"spNO.{int(m.group(1))}" if m else raw.strip()


def load_casme3(root: str | Path, label_sheet: str | Path | None = None,
                rules: LabelRules | None = None,
                emotion_map: dict[str, str] | None = None) -> Dataset:
    """CAS(ME)^3 part A: label sheet (default ``<root>/casme3_label.xlsx``) and ``data/``."""
    root = Path(root)
    rules = rules or LabelRules()
    sheet_path = find_sheet(root, label_sheet, CASME3_SHEET)
    emap = load_emotion_map("casme3") if emotion_map is None else emotion_map
    sheet = read_sheet(sheet_path, ("Subject", "Filename", "Onset", "Apex", "Offset", "emotion"))
    warnings: list[str] = []
    issues: list[RowIssue] = []
    log = RowLog(sheet, issues)
    entries: dict[str, VideoEntry] = {}
    folders: dict[str, dict[str, Path]] = {}  # subject -> letter folder name -> folder
    for sub_name, sub_dir in subfolders(root / "data").items():
        subject = _casme3_subject(sub_name)
        letters = folders.setdefault(subject, {})
        for letter, vid_dir in subfolders(sub_dir).items():
            letters[letter] = vid_dir
            vid = f"{subject}_{letter}"
            entries[vid] = VideoEntry(subject, vid, vid_dir / "color", CASME3_FPS,
                                      frame_numbering="number_minus_1")

    def read_row(row: int, cells: tuple[object, ...]) -> tuple[LabelledInterval | None, VideoEntry]:
        subject = _casme3_subject(sheet.text(cells, "Subject"))
        letter = sheet.text(cells, "Filename")
        if not subject or not letter:
            col = "Subject" if not subject else "Filename"
            raise BadRow(sheet.col(col), f"{col.lower()} empty", "empty")
        folder = match_name(folders.get(subject, {}), letter, root / "data" / subject)
        if folder is not None:
            letter = folder.name  # the folder's spelling (the sheet's case may differ)
        vid = f"{subject}_{letter}"
        emotion, raw = emotion_of(sheet, row, sheet.value(cells, "emotion"), emap, warnings)
        iv = interval_from_row(sheet, row, cells, rules, subject, vid, "micro", emotion, raw, log)
        return iv, VideoEntry(subject, vid, root / "data" / subject / letter / "color", CASME3_FPS,
                              frame_numbering="number_minus_1")

    labelled = read_rows(sheet, log, entries, read_row)
    return assemble("CAS(ME)^3", entries, labelled, warnings, issues, len(sheet.rows))


# ---------------------------------------------------------------- SAMM-LV
def _samm_emotions(path: Path) -> dict[str, str]:
    sheet = read_sheet(path, ("Filename", "Estimated Emotion"))
    out: dict[str, str] = {}
    for _, cells in sheet.rows:
        name = sheet.text(cells, "Filename")
        emo = sheet.text(cells, "Estimated Emotion")
        if name and emo:
            out[name.lower()] = emo
    return out


def load_samm_lv(root: str | Path, label_sheet: str | Path | None = None,
                 emotion_sheet: str | Path | None = None, rules: LabelRules | None = None,
                 emotion_map: dict[str, str] | None = None) -> Dataset:
    """SAMM-LV: ``SAMM_LongVideos_V3_Release.xlsx`` (header on row 10), emotions joined on
    Filename from ``SAMM_Micro_FACS_Codes_v2.xlsx`` (optional), frames in ``SAMM_longvideos/``.
    Macro-expressions are kept with type "macro" and no emotion.
    """
    root = Path(root)
    rules = rules or LabelRules()
    sheet_path = find_sheet(root, label_sheet, SAMMLV_SHEET)
    emap = load_emotion_map("samm_lv") if emotion_map is None else emotion_map
    warnings: list[str] = []
    emo_path = Path(emotion_sheet) if emotion_sheet is not None else root / SAMMLV_EMOTION_SHEET
    if emo_path.is_file():
        emotions = _samm_emotions(emo_path)
    elif emotion_sheet is not None:
        raise DatasetError(emo_path, "emotion sheet not found")
    else:
        emotions = {}
        warnings.append(f"{emo_path.name} not found: micro-expressions have no emotion "
                        f"(pass the FACS-codes sheet with --emotion-sheet)")
    sheet = read_sheet(sheet_path, ("Subject", "Filename", "Onset", "Apex", "Offset", "Type"))
    issues: list[RowIssue] = []
    log = RowLog(sheet, issues)
    entries: dict[str, VideoEntry] = {}
    frames_root = root / "SAMM_longvideos"
    folders = {n: d for n, d in subfolders(frames_root).items() if "_" in n}
    for n, d in folders.items():
        entries[n] = VideoEntry(n.split("_")[0], n, d, SAMMLV_FPS)

    def read_row(row: int, cells: tuple[object, ...]) -> tuple[LabelledInterval | None, VideoEntry]:
        filename = sheet.text(cells, "Filename")
        parts = filename.split("_")
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise BadRow(sheet.col("Filename"), "filename not <subject>_<video>_<n>",
                         f"filename {filename!r} is not <subject>_<video>_<n>")
        folder = match_name(folders, f"{parts[0]}_{parts[1]}", frames_root)
        vid = folder.name if folder is not None else f"{parts[0]}_{parts[1]}"
        subject = vid.split("_")[0]
        type_ = expression_type(sheet, cells, "Type", "'Micro - 1/2' nor 'Macro'")
        emotion = raw = None
        if type_ == "micro":
            emotion, raw = emotion_of(sheet, row, emotions.get(filename.lower()), emap, warnings)
            if raw is None and emotions:
                warnings.append(f"{sheet_path.name}: {sheet.where(row)}: no emotion for {filename}")
        iv = interval_from_row(sheet, row, cells, rules, subject, vid, type_, emotion, raw, log)
        return iv, VideoEntry(subject, vid, frames_root / vid, SAMMLV_FPS)

    labelled = read_rows(sheet, log, entries, read_row)
    return assemble("SAMM-LV", entries, labelled, warnings, issues, len(sheet.rows))
