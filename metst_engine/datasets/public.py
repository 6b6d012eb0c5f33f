"""Loaders for the public long-video ME datasets in their released layouts.

Video ids (``VideoEntry.video``), unique per dataset and safe as file names:

- CAS(ME)^3: ``spNO.<n>_<letter>`` (e.g. ``spNO.1_a``), subject ``spNO.<n>``;
  frames ``data/spNO.<n>/<letter>/color/<int>.jpg``, frame index = file number - 1.
- SAMM-LV: ``<sub>_<vid>`` (e.g. ``006_1``, the folder name), subject ``<sub>``;
  frames ``SAMM_longvideos/<sub>_<vid>/<sub>_<vid>_<5-digit>.jpg``, index = sorted position.
- CAS(ME)^2: ``sNN_<video>`` (e.g. ``s15_anger1_1``), subject ``sNN``;
  frames ``rawpic/sNN/<video>/img<n>.jpg``, frame index = n - 1.

Sheet frame numbers are 1-based and become 0-based source frames; `LabelRules` decide
offset-0 and onset-0 rows. Labels are mapped with ``resources/emotions/<dataset>.json``.
"""

from __future__ import annotations

import re
from pathlib import Path

from metst_engine.datasets._sheets import Sheet, interval_from_row, path_row, read_sheet
from metst_engine.datasets.base import (
    Dataset,
    LabelledInterval,
    LabelRules,
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
CASME2_COLUMNS = ("subject", "video", "onset", "apex", "offset", "au", "emotion", "type",
                  "self-report")

CASME3_FPS = 30.0
SAMMLV_FPS = 200.0
CASME2_FPS = 30.0


def _find_sheet(root: Path, given: Path | None, default_name: str) -> Path:
    if given is not None:
        return Path(given)
    p = root / default_name
    if p.is_file():
        return p
    raise DatasetError(root, f"label sheet {default_name} not found (pass its path)")


def _assemble(name: str, entries: dict[str, VideoEntry], labelled: list[LabelledInterval],
              warnings: list[str]) -> Dataset:
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
    return Dataset(name, videos, warnings)


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
    sheet_path = _find_sheet(root, None if label_sheet is None else Path(label_sheet),
                             "casme3_label.xlsx")
    emap = load_emotion_map("casme3") if emotion_map is None else emotion_map
    sheet = read_sheet(sheet_path, ("Subject", "Filename", "Onset", "Apex", "Offset", "emotion"))
    warnings: list[str] = []
    entries: dict[str, VideoEntry] = {}
    data = root / "data"
    if data.is_dir():
        for sub_dir in sorted(data.iterdir(), key=lambda p: natural_key(p.name)):
            if not sub_dir.is_dir():
                continue
            subject = _casme3_subject(sub_dir.name)
            for vid_dir in sorted(sub_dir.iterdir(), key=lambda p: natural_key(p.name)):
                if vid_dir.is_dir():
                    vid = f"{subject}_{vid_dir.name}"
                    entries[vid] = VideoEntry(subject, vid, vid_dir / "color", CASME3_FPS,
                                              frame_numbering="number_minus_1")
    labelled: list[LabelledInterval] = []
    for row, cells in sheet.rows:
        subject = _casme3_subject(sheet.text(cells, "Subject"))
        letter = sheet.text(cells, "Filename")
        if not subject or not letter:
            col = "Subject" if not subject else "Filename"
            raise sheet.error(row, sheet.col(col), "empty")
        vid = f"{subject}_{letter}"
        emotion, raw = map_emotion(sheet.value(cells, "emotion"), emap)
        if raw is not None and emotion is None:
            warnings.append(f"{path_row(sheet, row)}: emotion {raw!r} not in the emotion map")
        iv = interval_from_row(sheet, row, cells, rules, subject, vid, "micro", emotion, raw,
                               warnings)
        if iv is None:
            continue
        if vid not in entries:
            folder = root / "data" / subject / letter / "color"
            entries[vid] = VideoEntry(subject, vid, folder, CASME3_FPS,
                                      frame_numbering="number_minus_1")
        labelled.append(iv)
    return _assemble("CAS(ME)^3", entries, labelled, warnings)


# ---------------------------------------------------------------- SAMM-LV
def _samm_type(sheet: Sheet, row: int, cells: tuple[object, ...]) -> str:
    t = sheet.text(cells, "Type").lower()
    if t.startswith("micro"):
        return "micro"
    if t.startswith("macro"):
        return "macro"
    raise sheet.error(row, sheet.col("Type"), f"type {t!r} is neither 'Micro - 1/2' nor 'Macro'")


def _samm_emotions(path: Path) -> dict[str, str]:
    sheet = read_sheet(path, ("Filename", "Estimated Emotion"))
    out: dict[str, str] = {}
    for _, cells in sheet.rows:
        name = sheet.text(cells, "Filename")
        emo = sheet.text(cells, "Estimated Emotion")
        if name and emo:
            out[name] = emo
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
    sheet_path = _find_sheet(root, None if label_sheet is None else Path(label_sheet),
                             "SAMM_LongVideos_V3_Release.xlsx")
    emap = load_emotion_map("samm_lv") if emotion_map is None else emotion_map
    warnings: list[str] = []
    emo_path = Path(emotion_sheet) if emotion_sheet is not None else (
        root / "SAMM_Micro_FACS_Codes_v2.xlsx")
    if emo_path.is_file():
        emotions = _samm_emotions(emo_path)
    elif emotion_sheet is not None:
        raise DatasetError(emo_path, "emotion sheet not found")
    else:
        emotions = {}
        warnings.append(f"{emo_path.name} not found: micro-expressions have no emotion")
    sheet = read_sheet(sheet_path, ("Subject", "Filename", "Onset", "Apex", "Offset", "Type"))
    entries: dict[str, VideoEntry] = {}
    frames_root = root / "SAMM_longvideos"
    if frames_root.is_dir():
        for d in sorted(frames_root.iterdir(), key=lambda p: natural_key(p.name)):
            if d.is_dir() and "_" in d.name:
                entries[d.name] = VideoEntry(d.name.split("_")[0], d.name, d, SAMMLV_FPS)
    labelled: list[LabelledInterval] = []
    for row, cells in sheet.rows:
        filename = sheet.text(cells, "Filename")
        parts = filename.split("_")
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise sheet.error(row, sheet.col("Filename"),
                              f"filename {filename!r} is not <subject>_<video>_<n>")
        subject, vid = parts[0], f"{parts[0]}_{parts[1]}"
        type_ = _samm_type(sheet, row, cells)
        emotion = raw = None
        if type_ == "micro":
            emotion, raw = map_emotion(emotions.get(filename), emap)
            if raw is None and emotions:
                warnings.append(f"{path_row(sheet, row)}: no emotion for {filename}")
            elif raw is not None and emotion is None:
                warnings.append(f"{path_row(sheet, row)}: emotion {raw!r} not in the emotion map")
        iv = interval_from_row(sheet, row, cells, rules, subject, vid, type_, emotion, raw,
                               warnings)
        if iv is None:
            continue
        if vid not in entries:
            entries[vid] = VideoEntry(subject, vid, frames_root / vid, SAMMLV_FPS)
        labelled.append(iv)
    return _assemble("SAMM-LV", entries, labelled, warnings)


# ---------------------------------------------------------------- CAS(ME)^2
def _casme2_subject(raw: str) -> str:
    m = re.fullmatch(r"s?(\d+)(?:\.0)?", raw.strip(), flags=re.IGNORECASE)
    return f"s{int(m.group(1)):02d}" if m else raw.strip()


def _casme2_folder(root: Path, subject: str, video: str) -> Path:
    """rawpic/sNN/<video>; else the one folder there whose name ends with the video name."""
    base = root / "rawpic" / subject
    exact = base / video
    if exact.is_dir() or not base.is_dir():
        return exact
    hits = [d for d in base.iterdir() if d.is_dir() and d.name.lower().endswith(video.lower())]
    return hits[0] if len(hits) == 1 else exact


def load_casme2(root: str | Path, label_sheet: str | Path | None = None,
                rules: LabelRules | None = None,
                emotion_map: dict[str, str] | None = None) -> Dataset:
    """CAS(ME)^2: ``code_final.xlsx`` without header row and frames in ``rawpic/``."""
    root = Path(root)
    rules = rules or LabelRules()
    sheet_path = _find_sheet(root, None if label_sheet is None else Path(label_sheet),
                             "code_final.xlsx")
    emap = load_emotion_map("casme2") if emotion_map is None else emotion_map
    sheet = read_sheet(sheet_path, (), header=False, names=CASME2_COLUMNS)
    warnings: list[str] = []
    entries: dict[str, VideoEntry] = {}
    rawpic = root / "rawpic"
    if rawpic.is_dir():
        for sub_dir in sorted(rawpic.iterdir(), key=lambda p: natural_key(p.name)):
            if sub_dir.is_dir():
                subject = _casme2_subject(sub_dir.name)
                for d in sorted(sub_dir.iterdir(), key=lambda p: natural_key(p.name)):
                    if d.is_dir():
                        vid = f"{subject}_{d.name}"
                        entries[vid] = VideoEntry(subject, vid, d, CASME2_FPS,
                                                  frame_numbering="number_minus_1")
    labelled: list[LabelledInterval] = []
    for row, cells in sheet.rows:
        subject = _casme2_subject(sheet.text(cells, "subject"))
        video = sheet.text(cells, "video")
        if not subject or not video:
            raise sheet.error(row, sheet.col("subject" if not subject else "video"), "empty")
        t = sheet.text(cells, "type").lower()
        if t.startswith("micro"):
            type_ = "micro"
        elif t.startswith("macro"):
            type_ = "macro"
        else:
            raise sheet.error(row, sheet.col("type"),
                              f"type {t!r} is neither micro- nor macro-expression")
        emotion, raw = map_emotion(sheet.value(cells, "emotion"), emap)
        if raw is not None and emotion is None:
            warnings.append(f"{path_row(sheet, row)}: emotion {raw!r} not in the emotion map")
        folder = _casme2_folder(root, subject, video)
        vid = f"{subject}_{folder.name}"
        iv = interval_from_row(sheet, row, cells, rules, subject, vid, type_, emotion, raw,
                               warnings)
        if iv is None:
            continue
        if vid not in entries:
            entries[vid] = VideoEntry(subject, vid, folder, CASME2_FPS,
                                      frame_numbering="number_minus_1")
        labelled.append(iv)
    return _assemble("CAS(ME)^2", entries, labelled, warnings)
