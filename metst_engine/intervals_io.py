"""The predictions CSV that ``metst predict`` writes and ``metst evaluate`` reads.

Columns ``subject,video,onset,apex,offset,emotion,score``: 0-based inclusive source
frames, emotion empty when the predictor gives none. Errors name the file, line and column.
``one_based=True`` writes (and reads back) frames counted from 1, for sheets and tools that
count that way; inside metst every frame stays 0-based.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from .atomic import atomic_path
from .errors import InputError
from .intervals import Interval

PREDICTION_COLUMNS = ("subject", "video", "onset", "apex", "offset", "emotion", "score")


def write_predictions(path: str | Path, rows: Iterable[tuple[str, str, Interval]], one_based: bool = False) -> Path:
    """Write (subject, video, interval) rows atomically; ``one_based`` adds 1 to every frame."""
    path = Path(path)
    base = 1 if one_based else 0
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(PREDICTION_COLUMNS)
        for subject, video, iv in rows:
            w.writerow([subject, video, iv.onset + base, "" if iv.apex is None else iv.apex + base, iv.offset + base,
                        iv.emotion or "",
                        "" if iv.score is None else f"{iv.score:.6g}"])
    return path


def read_predictions(paths: Sequence[str | Path], one_based: bool = False) -> dict[str, list[Interval]]:
    """Intervals per video id (0-based frames) from one or more prediction CSVs.

    ``one_based``: the files count frames from 1 (as ``predict --one-based`` writes them).
    """
    base = 1 if one_based else 0
    out: dict[str, list[Interval]] = {}
    for p in map(Path, paths):
        if not p.is_file():
            raise InputError(p, "predictions file not found")
        with open(p, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in ("video", "onset", "offset") if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(p, f"missing column(s) {', '.join(missing)}; expected {','.join(PREDICTION_COLUMNS)}")
            for line, row in enumerate(reader, start=2):
                video = (row.get("video") or "").strip()
                out.setdefault(video, [])
                if not (row.get("onset") or "").strip():
                    continue      # a video listed without any interval
                try:
                    onset, offset = int(float(row["onset"])) - base, int(float(row["offset"])) - base
                    apex = int(float(row["apex"])) - base if (row.get("apex") or "").strip() else None
                    if onset < 0 or (apex is not None and apex < 0):
                        raise ValueError("frame 0 in a file read as one-based" if one_based else "negative frame")
                    score = float(row["score"]) if (row.get("score") or "").strip() else None
                    out[video].append(Interval(onset=onset, offset=offset, apex=apex,
                                               emotion=(row.get("emotion") or "").strip() or None, score=score))
                except (TypeError, ValueError) as exc:
                    raise InputError(p, f"line {line}: bad interval ({exc})") from None
    return out
