"""Exports of reviewed intervals: CSV (MEGC style), XLSX and ELAN ``.eaf``, and reading the CSV back;
:class:`ExportsPart` gives a project's intervals as :class:`ExportRow` and writes them.

The CSV and XLSX are the interval table :data:`EXPORT` (:mod:`metst_engine.tables`): text
cells made inert for spreadsheets and read back exactly (no spaces stripped), numbers as
numbers, times rounded to the microsecond, errors naming the file, row and column.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from metst_engine.atomic import atomic_path
from metst_engine.project.edits import ReviewPart
from metst_engine.project.records import SOURCES, STATES, TYPES
from metst_engine.tables import Column, Row, Schema, xml_safe

EXPORT = Schema(
    what="table of intervals",
    columns=(Column("subject"), Column("video"), Column("onset", "frame"), Column("apex", "frame"),
             Column("offset", "frame"), Column("type"), Column("emotion"), Column("state"), Column("source"),
             Column("annotator"), Column("score", "number"), Column("note"),
             *(Column(c, "number", places=6) for c in ("onset_s", "apex_s", "offset_s"))),
    required=("video", "onset", "offset"),
    strip=False,                       # exports round-trip any text, spaces included
    bom=True,                          # so spreadsheet programs read the accents
)
COLUMNS: tuple[str, ...] = EXPORT.names


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


def write_csv(path: str | Path, rows: Iterable[ExportRow]) -> Path:
    """Write rows as CSV (UTF-8 with BOM), atomically."""
    return EXPORT.write_csv(path, map(asdict, rows))


def write_xlsx(path: str | Path, rows: Iterable[ExportRow]) -> Path:
    """Write rows as one XLSX sheet; characters XML cannot hold become U+FFFD."""
    return EXPORT.write_xlsx(path, map(asdict, rows), sheet="intervals")


def read_csv(path: str | Path) -> list[ExportRow]:
    """Read a CSV written by :func:`write_csv`; errors name the file, row and column."""
    return [_parse(row) for row in EXPORT.read_csv(path)]


def read_xlsx(path: str | Path) -> list[ExportRow]:
    """Read the sheet written by :func:`write_xlsx`."""
    return [_parse(row) for row in EXPORT.read_xlsx(path)]


def _parse(row: Row) -> ExportRow:
    video = row.text("video", required=True)
    values: dict[str, str] = {}
    for col, allowed, default in (("type", TYPES, "micro"), ("state", STATES, "pending"),
                                  ("source", SOURCES, "imported")):
        values[col] = row.text(col) or default
        if values[col] not in allowed:
            raise row.error(col, f"{values[col]!r} is not one of {', '.join(allowed)}")
    onset, offset = row.frame("onset"), row.frame("offset")
    apex = row.frame("apex", blank_ok=True)
    assert onset is not None and offset is not None
    row.interval(onset, apex, offset)
    return ExportRow(row.text("subject"), video, onset, apex, offset, values["type"], row.text("emotion") or None,
                     values["state"], values["source"], row.text("annotator") or None, row.number("score"),
                     row.text("note"), row.number("onset_s"), row.number("apex_s"), row.number("offset_s"))


#: ELAN tiers of the intervals that are not an annotator's finding (``tiers="annotator"``).
REJECTED_TIER = "rejected proposals"
PENDING_TIER = "pending proposals"
RejectedInEaf = Literal["tier", "omit"]


def eaf_tier(row: ExportRow, tiers: Literal["annotator", "state"]) -> str:
    """The tier of ``row``: its state, or its annotator's; with ``tiers="annotator"`` rejected and
    pending intervals go to their own tiers, so no annotator's tier shows a non-finding."""
    if tiers == "state":
        return row.state
    if row.state == "rejected":
        return REJECTED_TIER
    if row.state == "pending":
        return PENDING_TIER
    return row.annotator or "unassigned"


def write_eaf(path: str | Path, rows: Sequence[ExportRow], media: Path | None, timestamps: np.ndarray, fps: float,
              tiers: Literal["annotator", "state"] = "annotator", rejected: RejectedInEaf = "tier") -> Path:
    """ELAN file: one tier per annotator (or state); an annotation spans its frames' display times.

    With ``tiers="annotator"`` an annotator's tier holds only findings (accepted, corrected,
    added); rejected intervals go to the tier ``"rejected proposals"`` (or are left out with
    ``rejected="omit"``) and undecided ones to ``"pending proposals"``, their labels naming
    who decided. An interval starts at the time of its onset frame and ends when the frame
    after its offset is shown (the video's own timestamps; one frame period past the last frame).
    """
    from pympi.Elan import Eaf  # only ELAN exports need it; keeps `metst` start fast

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
        if rejected == "omit" and row.state == "rejected":
            continue
        name = eaf_tier(row, tiers)
        tier = xml_safe(name) or "unnamed"
        if tier not in eaf.tiers:
            eaf.add_tier(tier, ann=None if tiers == "state" or name in (REJECTED_TIER, PENDING_TIER) else tier)
        start = float(timestamps[row.onset])
        end = float(timestamps[row.offset + 1]) if row.offset + 1 < n else float(timestamps[row.offset]) + 1.0 / fps
        who = f", by {row.annotator}" if name in (REJECTED_TIER, PENDING_TIER) and row.annotator else ""
        label = f"{row.emotion or 'expression'} ({row.type}, {row.state}, {row.source}{who})"
        if row.note:
            label += f": {row.note}"
        start_ms = round(start * 1000)
        eaf.add_annotation(tier, start_ms, max(round(end * 1000), start_ms + 1), xml_safe(label))
    with atomic_path(path) as tmp:
        tmp.unlink()                # pympi renames an existing file to *.bak before writing
        eaf.to_file(str(tmp))
    return path


class ExportsPart(ReviewPart):
    """A project's intervals as export rows, written as CSV, XLSX or ELAN."""

    def export_rows(self, video: int | str | None = None, states: Iterable[str] | None = None) -> list[ExportRow]:
        """Intervals with subject, video and times from the video's own timestamps (see :class:`ExportRow`)."""
        def time_of(ts: np.ndarray, i: int | None) -> float | None:
            return None if i is None or i >= len(ts) else float(ts[i])

        vids = {v.id: v for v in self.videos()}
        stamps: dict[int, np.ndarray] = {}
        out = []
        for r in self.intervals(video, states=states):
            v = vids[r.video_id]
            ts = stamps.setdefault(v.id, self.timestamps(v.id))
            out.append(ExportRow(v.subject, v.name, r.onset, r.apex, r.offset, r.type, r.emotion, r.state, r.source,
                                 r.annotator, r.score, r.note, time_of(ts, r.onset), time_of(ts, r.apex),
                                 time_of(ts, r.offset)))
        return out

    def export_csv(self, path: str | Path, video: int | str | None = None) -> Path:
        return write_csv(path, self.export_rows(video))

    def export_xlsx(self, path: str | Path, video: int | str | None = None) -> Path:
        return write_xlsx(path, self.export_rows(video))

    def export_eaf(self, path: str | Path, video: int | str, tiers: Literal["annotator", "state"] = "annotator",
                   rejected: RejectedInEaf = "tier") -> Path:
        """ELAN file of one video, one tier per annotator (or per state), linked to the video file;
        rejected intervals in their own tier or left out (see :func:`write_eaf`)."""
        v = self.video(video)
        return write_eaf(path, self.export_rows(v.id), v.path, self.timestamps(v.id), v.fps, tiers, rejected)
