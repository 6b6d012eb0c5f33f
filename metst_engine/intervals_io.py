"""The predictions CSV that ``metst predict`` writes and ``metst evaluate`` reads.

Columns ``subject,video,onset,apex,offset,emotion,score``: 0-based inclusive source
frames, emotion empty when the predictor gives none. Errors name the file, line and column.
``one_based=True`` writes (and reads back) frames counted from 1, for sheets and tools that
count that way; inside metst every frame stays 0-based. Text cells go through the one
spreadsheet-safe cell rule (:mod:`metst_engine.report_csv`): a subject ``=HYPERLINK(...)``
is written ``'=HYPERLINK(...)`` and read back as it was.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from .atomic import atomic_path
from .errors import InputError
from .intervals import Interval
from .report_csv import escape_cell, unescape_cell
from .safe_paths import input_file

PREDICTION_COLUMNS = ("subject", "video", "onset", "apex", "offset", "emotion", "score")


def write_predictions(path: str | Path, rows: Iterable[tuple[str, str, Interval]], one_based: bool = False) -> Path:
    """Write (subject, video, interval) rows atomically; ``one_based`` adds 1 to every frame."""
    path = Path(path)
    base = 1 if one_based else 0
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(PREDICTION_COLUMNS)
        for subject, video, iv in rows:
            cells = [escape_cell(_text(path, "subject", subject)), escape_cell(_text(path, "video", video)),
                     iv.onset + base, "" if iv.apex is None else iv.apex + base, iv.offset + base,
                     escape_cell(_text(path, "emotion", iv.emotion or "")),
                     "" if iv.score is None else f"{iv.score:.6g}"]
            w.writerow(cells)
    return path


def _text(path: Path, column: str, value: object) -> str:
    """A text cell that UTF-8 can hold (command-line text may carry undecodable bytes)."""
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(path, f"column {column}: {text!r} is not valid UTF-8 text; give it in plain text") from None
    return text


def _frame(text: str) -> int:
    """A frame number cell: an integer (``12`` or ``12.0``), finite and not absurdly large."""
    x = float(text)
    if not math.isfinite(x):
        raise ValueError(f"not a finite number: {text.strip()!r}")
    if not x.is_integer():
        raise ValueError(f"not a whole frame number: {text.strip()!r}")
    if abs(x) > 2**53:
        raise ValueError(f"frame number too large: {text.strip()!r}")
    return int(x)


def read_predictions(paths: Sequence[str | Path], one_based: bool = False) -> dict[str, list[Interval]]:
    """Intervals per video id (0-based frames) from one or more prediction CSVs.

    ``one_based``: the files count frames from 1 (as ``predict --one-based`` writes them).
    """
    base = 1 if one_based else 0
    out: dict[str, list[Interval]] = {}
    for p in map(Path, paths):
        input_file(p, "predictions file")
        try:
            with open(p, newline="", encoding="utf-8-sig") as fh:
                _read_one(p, csv.DictReader(fh), base, one_based, out)
        except UnicodeDecodeError as exc:
            raise InputError(p, f"not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV "
                                f"({','.join(PREDICTION_COLUMNS)})") from None
        except csv.Error as exc:
            raise InputError(p, f"cannot read as CSV: {exc}; expected {','.join(PREDICTION_COLUMNS)}") from None
    return out


def _read_one(p: Path, reader: csv.DictReader, base: int, one_based: bool, out: dict[str, list[Interval]]) -> None:
    missing = [c for c in ("video", "onset", "offset") if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(p, f"missing column(s) {', '.join(missing)}; expected {','.join(PREDICTION_COLUMNS)}")
    for line, row in enumerate(reader, start=2):
        video = unescape_cell((row.get("video") or "").strip())
        if not video:
            raise InputError(p, f"line {line}: empty video id; every row names its video")
        out.setdefault(video, [])
        if not (row.get("onset") or "").strip():
            continue      # a video listed without any interval
        try:
            onset, offset = _frame(row["onset"]) - base, _frame(row["offset"] or "") - base
            apex = _frame(row["apex"]) - base if (row.get("apex") or "").strip() else None
            if onset < 0 or (apex is not None and apex < 0):
                raise ValueError("frame 0 in a file read as one-based" if one_based else "negative frame")
            if offset < onset:
                raise ValueError(f"offset {offset + base} before onset {onset + base}")
            if apex is not None and not onset <= apex <= offset:
                raise ValueError(f"apex {apex + base} outside [{onset + base}, {offset + base}]")
            score = float(row["score"]) if (row.get("score") or "").strip() else None
            if score is not None and not math.isfinite(score):
                raise ValueError(f"score {row['score'].strip()!r} is not a finite number")
            emotion = unescape_cell((row.get("emotion") or "").strip()) or None
            out[video].append(Interval(onset=onset, offset=offset, apex=apex, emotion=emotion, score=score))
        except (TypeError, ValueError) as exc:
            raise InputError(p, f"line {line}: bad interval ({exc}); fix the row or regenerate the file "
                                "with metst predict") from None
