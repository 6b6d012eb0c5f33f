"""The predictions CSV that ``metst predict`` writes and ``metst evaluate`` reads.

Columns ``subject,video,onset,apex,offset,emotion,score``: 0-based inclusive source
frames, emotion empty when the predictor gives none. ``one_based=True`` writes (and reads
back) frames counted from 1, for sheets and tools that count that way; inside metst every
frame stays 0-based. A video listed with an empty onset has no interval. Cells, numbers,
atomic writes and error messages (file, line, column) follow :mod:`metst_engine.tables`:
a subject ``=HYPERLINK(...)`` is written ``'=HYPERLINK(...)`` and read back as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from .intervals import Interval
from .tables import Column, Row, Schema

PREDICTIONS = Schema(
    what="predictions file",
    columns=(Column("subject"), Column("video"), Column("onset", "frame"), Column("apex", "frame"),
             Column("offset", "frame"), Column("emotion"), Column("score", "number", fmt=".6g")),
    required=("video", "onset", "offset"),
    row_word="line",
    hint="; fix the row or regenerate the file with metst predict",
)
PREDICTION_COLUMNS = PREDICTIONS.names


def write_predictions(path: str | Path, rows: Iterable[tuple[str, str, Interval]], one_based: bool = False) -> Path:
    """Write (subject, video, interval) rows atomically; ``one_based`` adds 1 to every frame."""
    return PREDICTIONS.write_csv(path, ({"subject": subject, "video": video, "onset": iv.onset, "apex": iv.apex,
                                         "offset": iv.offset, "emotion": iv.emotion or "", "score": iv.score}
                                        for subject, video, iv in rows), base=1 if one_based else 0)


def read_predictions(paths: Sequence[str | Path], one_based: bool = False) -> dict[str, list[Interval]]:
    """Intervals per video id (0-based frames) from one or more prediction CSVs.

    ``one_based``: the files count frames from 1 (as ``predict --one-based`` writes them).
    """
    out: dict[str, list[Interval]] = {}
    for p in paths:
        for row in PREDICTIONS.read_csv(p, base=1 if one_based else 0):
            video = row.text("video", required=True)
            intervals = out.setdefault(video, [])
            if not row.blank("onset"):                 # else: a video listed without any interval
                intervals.append(_interval(row))
    return out


def _interval(row: Row) -> Interval:
    onset, offset = row.frame("onset"), row.frame("offset")
    apex = row.frame("apex", blank_ok=True)
    assert onset is not None and offset is not None
    row.interval(onset, apex, offset)
    return Interval(onset=onset, offset=offset, apex=apex, emotion=row.text("emotion") or None,
                    score=row.number("score"))
