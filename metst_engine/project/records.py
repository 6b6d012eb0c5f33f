"""Typed rows of a project, as the GUI, the CLI and training read them.

Frames are 0-based ``frame(i)`` indices of the video, intervals inclusive. Records are
frozen snapshots: a mutation returns an :class:`Edit` holding the rows before and after,
which is all :meth:`Project.undo` / :meth:`Project.redo` need.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

#: Where an interval came from.
SOURCES: tuple[str, ...] = ("predicted", "manual", "imported")
#: Review state of an interval.
STATES: tuple[str, ...] = ("pending", "accepted", "rejected", "corrected")
#: Expression types.
TYPES: tuple[str, ...] = ("micro", "macro")


@dataclass(frozen=True)
class SubjectRecord:
    id: int
    name: str


@dataclass(frozen=True)
class VideoRecord:
    """A video of the project; ``path`` is absolute (resolved against the project folder)."""

    id: int
    name: str                 #: dataset-wide id (the ``video`` column of every CSV)
    subject: str
    path: Path
    stored_path: str          #: as stored: relative (posix) when inside the project folder
    content_hash: str
    fps: float
    n_frames: int
    complete: bool
    completed_by: str | None
    completed_at: str | None
    added: str

    @property
    def exists(self) -> bool:
        return self.path.exists()


@dataclass(frozen=True)
class RunRecord:
    """One imported prediction run (a predictor or checkpoint with its parameters)."""

    id: int
    predictor: str
    params: dict[str, Any]
    source_file: str | None
    created: str


@dataclass(frozen=True)
class IntervalRecord:
    """One interval with its review state; ``annotator`` is who last decided on it."""

    id: int
    video_id: int
    onset: int
    apex: int | None
    offset: int
    emotion: str | None
    type: str
    source: str
    state: str
    score: float | None
    annotator: str | None
    note: str
    run_id: int | None
    touched: bool             #: a human accepted, rejected, corrected, added or annotated it
    created: str
    updated: str
    #: a human changed its emotion or type (its state tells whether its timing was corrected)
    label_edited: bool = False

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> IntervalRecord:
        values = {f.name: row[f.name] for f in fields(cls) if f.name in row}
        values["touched"] = bool(values["touched"])
        values["label_edited"] = bool(values.get("label_edited", False))
        return cls(**values)


@dataclass(frozen=True)
class ReviewPosition:
    """Where an annotator left off: the video (row id and name) and the frame shown there."""

    video_id: int
    video: str
    frame: int
    updated: str


@dataclass(frozen=True)
class CurvesRecord:
    """A per-frame curves file in the project's ``cache/`` folder."""

    id: int
    video_id: int
    run_id: int | None
    path: Path
    created: str


@dataclass(frozen=True)
class Change:
    """One row before and after an edit (None: the row did not / does not exist)."""

    table: str                         #: "intervals" or "videos"
    row_id: int
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True)
class Edit:
    """What one mutation did; pass it to ``Project.undo`` / ``Project.redo``."""

    action: str
    changes: tuple[Change, ...]
    log_id: int                        #: row of the edit log that records it

    @property
    def interval_id(self) -> int | None:
        """The interval of a single-interval edit (None for bulk or video edits)."""
        ids = {c.row_id for c in self.changes if c.table == "intervals"}
        return ids.pop() if len(ids) == 1 else None

    @property
    def before(self) -> IntervalRecord | None:
        return self._single("before")

    @property
    def after(self) -> IntervalRecord | None:
        return self._single("after")

    def _single(self, side: str) -> IntervalRecord | None:
        rows = [getattr(c, side) for c in self.changes if c.table == "intervals"]
        return IntervalRecord.from_row(rows[0]) if len(rows) == 1 and rows[0] is not None else None


@dataclass(frozen=True)
class ImportResult:
    """An import: the run it created (predictions), rows added, replaced and skipped, and its edit."""

    run_id: int | None
    added: int
    replaced: int
    skipped: int
    edit: Edit


@dataclass(frozen=True)
class VideoProgress:
    video: str
    subject: str
    total: int
    pending: int
    accepted: int
    rejected: int
    corrected: int
    manual: int
    complete: bool

    @property
    def reviewed_fraction(self) -> float:
        return 1.0 if self.total == 0 else (self.total - self.pending) / self.total


@dataclass(frozen=True)
class SubjectProgress:
    subject: str
    videos: int
    videos_complete: int
    total: int
    pending: int

    @property
    def reviewed_fraction(self) -> float:
        return 1.0 if self.total == 0 else (self.total - self.pending) / self.total


@dataclass(frozen=True)
class VideoProblem:
    """A video the project cannot find or whose content changed, and how to fix it."""

    video: str
    path: Path
    problem: str
    fix: str
