"""The generic manifest: one CSV row per expression, for any dataset or own recordings.

Columns: subject, video, path, fps, onset, apex, offset, type, emotion, raw_emotion.
``video`` is the dataset id of the video (the key in every CSV this project writes);
``path`` is the frame folder or video file, relative to the manifest; frames are 0-based
source frames, intervals inclusive; ``type`` is micro or macro; ``emotion`` is one of
negative, positive, surprise, others or empty. A video without expressions has one row
with an empty onset (and empty apex, offset, type, emotion).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from metst_engine.atomic import atomic_path
from metst_engine.datasets.base import (
    Dataset,
    LabelledInterval,
    VideoEntry,
    natural_key,
)
from metst_engine.errors import DatasetError, InputError
from metst_engine.intervals import EMOTIONS
from metst_engine.report_csv import escape_cell, unescape_cell
from metst_engine.safe_paths import input_file

MANIFEST_COLUMNS: tuple[str, ...] = ("subject", "video", "path", "fps", "onset", "apex",
                                     "offset", "type", "emotion", "raw_emotion")
TYPES = ("micro", "macro")


def _int(path: Path, line: int, col: str, text: str, blank_ok: bool) -> int | None:
    if not text:
        if blank_ok:
            return None
        raise DatasetError(path, f"row {line}, column {col}: empty")
    try:
        v = float(text)
    except ValueError:
        raise DatasetError(path, f"row {line}, column {col}: not a number: {text!r}") from None
    if not v.is_integer() or v < 0 or v >= 2**31:
        raise DatasetError(path, f"row {line}, column {col}: not a frame index >= 0: {text!r}")
    return int(v)


def load_manifest(path: str | Path, name: str | None = None) -> Dataset:
    """Read a manifest CSV; errors name the CSV line (header = line 1) and the column."""
    import pandas as pd  # here, not at import: `metst` starts without pandas

    path = Path(path)
    try:
        input_file(path, "manifest")
    except InputError as exc:
        raise DatasetError(path, exc.problem) from None
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=True)
    except FileNotFoundError:
        raise DatasetError(path, "manifest not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(path, f"cannot read as CSV: {exc}") from exc
    df.columns = [c.strip().lower() for c in df.columns]
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns and c != "raw_emotion"]
    if missing:
        raise DatasetError(path, f"missing column(s): {', '.join(missing)}")
    base = path.parent
    entries: dict[str, VideoEntry] = {}
    for i, rec in enumerate(df.to_dict("records")):
        line = i + 2
        r = {k: unescape_cell(str(v).strip()) for k, v in rec.items()}   # text cells as written
        for col in ("subject", "video", "path", "fps"):
            if not r[col]:
                raise DatasetError(path, f"row {line}, column {col}: empty")
        try:
            fps = float(r["fps"])
        except ValueError:
            raise DatasetError(path, f"row {line}, column fps: not a number: {r['fps']!r}") from None
        if not (fps > 0 and math.isfinite(fps)):
            raise DatasetError(path, f"row {line}, column fps: must be > 0")
        video_path = base / r["path"]
        entry = entries.get(r["video"])
        if entry is None:
            entry = entries[r["video"]] = VideoEntry(r["subject"], r["video"], video_path, fps)
        else:
            for col, mine, theirs in (("subject", entry.subject, r["subject"]),
                                      ("path", entry.path, video_path), ("fps", entry.fps, fps)):
                if mine != theirs:
                    raise DatasetError(path, f"row {line}, column {col}: {theirs} differs from "
                                             f"{mine} on an earlier row of video {r['video']}")
        onset = _int(path, line, "onset", r["onset"], blank_ok=True)
        if onset is None:
            for col in ("apex", "offset", "emotion"):
                if r[col]:
                    raise DatasetError(path, f"row {line}, column {col}: set on a row without onset")
            continue
        offset = _int(path, line, "offset", r["offset"], blank_ok=False)
        apex = _int(path, line, "apex", r["apex"], blank_ok=True)
        assert offset is not None
        if offset < onset:
            raise DatasetError(path, f"row {line}, column offset: {offset} before onset {onset}")
        if apex is not None and not onset <= apex <= offset:
            raise DatasetError(path, f"row {line}, column apex: {apex} outside [{onset}, {offset}]; "
                                     "fix the apex or leave it empty")
        type_ = r["type"].lower() or "micro"
        if type_ not in TYPES:
            raise DatasetError(path, f"row {line}, column type: {r['type']!r} is not micro or macro")
        emotion = r["emotion"].lower() or None
        if emotion is not None and emotion not in EMOTIONS:
            raise DatasetError(path, f"row {line}, column emotion: {r['emotion']!r} is not one "
                                     f"of {', '.join(EMOTIONS)} or empty")
        raw = r.get("raw_emotion") or None
        entry.intervals.append(LabelledInterval(entry.subject, entry.video, onset, apex, offset,
                                                type_, emotion, raw))
    videos = sorted(entries.values(), key=lambda v: natural_key(v.video))
    for v in videos:
        v.intervals.sort(key=lambda iv: (iv.onset, iv.offset))
    return Dataset(name or path.stem, videos)


def write_manifest(dataset: Dataset, path: str | Path) -> Path:
    """Write ``dataset`` as a manifest CSV (atomically); paths become relative to the manifest's folder.

    Text cells go through the one spreadsheet-safe cell rule (``report_csv.escape_cell``),
    which :func:`load_manifest` undoes, so ``=HYPERLINK(...)`` never runs in a spreadsheet.
    """
    path = Path(path)
    base = path.parent.resolve()
    rows = []
    for v in dataset.videos:
        rel = Path(os.path.relpath(Path(v.path).resolve(), base)).as_posix()
        common = {"subject": escape_cell(v.subject), "video": escape_cell(v.video), "path": escape_cell(rel),
                  "fps": f"{v.fps:g}"}
        if not v.intervals:
            rows.append({**common, "onset": "", "apex": "", "offset": "", "type": "",
                         "emotion": "", "raw_emotion": ""})
        for iv in v.intervals:
            rows.append({**common, "onset": iv.onset,
                         "apex": "" if iv.apex is None else iv.apex, "offset": iv.offset,
                         "type": iv.type, "emotion": escape_cell(iv.emotion or ""),
                         "raw_emotion": escape_cell(iv.raw_emotion or "")})
    import pandas as pd   # heavy: imported when a manifest is written, not when metst starts

    with atomic_path(path) as tmp:
        pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)).to_csv(tmp, index=False, encoding="utf-8")
    return path
