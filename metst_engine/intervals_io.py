"""The predictions CSV that ``metst predict`` writes and ``metst evaluate`` reads.

Columns ``subject,video,onset,apex,offset,emotion,score``: 0-based inclusive source
frames, emotion empty when the predictor gives none. Errors name the file, line and column.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from .atomic import atomic_path
from .errors import InputError
from .intervals import Interval

PREDICTION_COLUMNS = ("subject", "video", "onset", "apex", "offset", "emotion", "score")


def write_predictions(path: str | Path, rows: Iterable[tuple[str, str, Interval]]) -> Path:
    """Write (subject, video, interval) rows atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(PREDICTION_COLUMNS)
        for subject, video, iv in rows:
            w.writerow([subject, video, iv.onset, "" if iv.apex is None else iv.apex, iv.offset, iv.emotion or "",
                        "" if iv.score is None else f"{iv.score:.6g}"])
    return path


def read_predictions(paths: Sequence[str | Path]) -> dict[str, list[Interval]]:
    """Intervals per video id from one or more prediction CSVs."""
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
                    onset, offset = int(float(row["onset"])), int(float(row["offset"]))
                    apex = int(float(row["apex"])) if (row.get("apex") or "").strip() else None
                    score = float(row["score"]) if (row.get("score") or "").strip() else None
                    out[video].append(Interval(onset=onset, offset=offset, apex=apex,
                                               emotion=(row.get("emotion") or "").strip() or None, score=score))
                except (TypeError, ValueError) as exc:
                    raise InputError(p, f"line {line}: bad interval ({exc})") from None
    return out
