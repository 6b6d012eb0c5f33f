"""The generic manifest: one CSV row per expression, for any dataset or own recordings.

Columns: subject, video, path, fps, onset, apex, offset, type, emotion, raw_emotion.
``video`` is the dataset id of the video (the key in every CSV this project writes);
``path`` is the frame folder or video file, relative to the manifest; frames are 0-based
source frames, intervals inclusive; ``type`` is micro or macro; ``emotion`` is one of
negative, positive, surprise, others or empty. A video without expressions has one row
with an empty onset (and empty apex, offset, type, emotion). Cells, numbers, atomic writes
and error messages (file, row, column) follow :mod:`metst_engine.tables`.
"""

from __future__ import annotations

import os
from pathlib import Path

from metst_engine.datasets.base import (
    Dataset,
    LabelledInterval,
    VideoEntry,
    natural_key,
)
from metst_engine.errors import DatasetError
from metst_engine.intervals import EMOTIONS
from metst_engine.tables import Column, Row, Schema

MANIFEST = Schema(
    what="manifest",
    columns=(Column("subject"), Column("video"), Column("path"), Column("fps", "number", fmt="g"),
             Column("onset", "frame"), Column("apex", "frame"), Column("offset", "frame"), Column("type"),
             Column("emotion"), Column("raw_emotion")),
    required=("subject", "video", "path", "fps", "onset", "apex", "offset", "type", "emotion"),
    error=DatasetError,
    line_end="\n",                     # as the manifests written before (by pandas) end their lines
)
MANIFEST_COLUMNS: tuple[str, ...] = MANIFEST.names
TYPES = ("micro", "macro")


def load_manifest(path: str | Path, name: str | None = None) -> Dataset:
    """Read a manifest CSV; errors name the CSV row (header = row 1) and the column."""
    path = Path(path)
    entries: dict[str, VideoEntry] = {}
    for row in MANIFEST.read_csv(path):
        entry = _video_of(row, path.parent, entries)
        if row.blank("onset"):
            for col in ("apex", "offset", "emotion"):
                if not row.blank(col):
                    raise row.error(col, "set on a row without onset")
            continue
        entry.intervals.append(_interval_of(row, entry))
    videos = sorted(entries.values(), key=lambda v: natural_key(v.video))
    for v in videos:
        v.intervals.sort(key=lambda iv: (iv.onset, iv.offset))
    return Dataset(name or path.stem, videos)


def _video_of(row: Row, base: Path, entries: dict[str, VideoEntry]) -> VideoEntry:
    """The row's video, added on its first row; later rows must agree on subject, path and fps."""
    subject, video, rel = (row.text(c, required=True) for c in ("subject", "video", "path"))
    fps = row.number("fps", blank_ok=False)
    assert fps is not None
    if fps <= 0:
        raise row.error("fps", "must be > 0")
    video_path = base / rel
    entry = entries.get(video)
    if entry is None:
        entry = entries[video] = VideoEntry(subject, video, video_path, fps)
    for col, mine, theirs in (("subject", entry.subject, subject), ("path", entry.path, video_path),
                              ("fps", entry.fps, fps)):
        if mine != theirs:
            raise row.error(col, f"{theirs} differs from {mine} on an earlier row of video {video}")
    return entry


def _interval_of(row: Row, entry: VideoEntry) -> LabelledInterval:
    onset, offset = row.frame("onset"), row.frame("offset")
    apex = row.frame("apex", blank_ok=True)
    assert onset is not None and offset is not None
    row.interval(onset, apex, offset)
    type_ = row.text("type").lower() or "micro"
    if type_ not in TYPES:
        raise row.error("type", f"{row.text('type')!r} is not micro or macro")
    emotion = row.text("emotion").lower() or None
    if emotion is not None and emotion not in EMOTIONS:
        raise row.error("emotion", f"{row.text('emotion')!r} is not one of {', '.join(EMOTIONS)} or empty")
    return LabelledInterval(entry.subject, entry.video, onset, apex, offset, type_, emotion,
                            row.text("raw_emotion") or None)


def write_manifest(dataset: Dataset, path: str | Path) -> Path:
    """Write ``dataset`` as a manifest CSV (atomically); paths become relative to the manifest's folder.

    Text cells go through the one spreadsheet-safe cell rule, which :func:`load_manifest`
    undoes, so ``=HYPERLINK(...)`` never runs in a spreadsheet.
    """
    path = Path(path)
    base = path.parent.resolve()
    rows: list[dict[str, object]] = []
    for v in dataset.videos:
        common = {"subject": v.subject, "video": v.video, "fps": v.fps,
                  "path": Path(os.path.relpath(Path(v.path).resolve(), base)).as_posix()}
        if not v.intervals:
            rows.append(common)
        rows.extend({**common, "onset": iv.onset, "apex": iv.apex, "offset": iv.offset, "type": iv.type,
                     "emotion": iv.emotion, "raw_emotion": iv.raw_emotion} for iv in v.intervals)
    return MANIFEST.write_csv(path, rows)
