"""Data model of a labelled ME dataset, label rules, emotion maps and frame listing.

Frame numbers in this model are 0-based source-frame indices of the video (inclusive
intervals). Sheets that count from 1 are converted on import by the loaders.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from metst_engine.errors import DatasetError
from metst_engine.intervals import EMOTIONS, Interval
from metst_engine.resources_path import resource_path

ExpressionType = Literal["micro", "macro"]
#: How frame files map to frame indices (see `list_frames`).
FrameNumbering = Literal["number_minus_1", "position"]


@dataclass(frozen=True)
class LabelledInterval:
    """One annotated expression, 0-based source frames; emotion is the mapped class or None."""

    subject: str
    video: str
    onset: int
    apex: int | None
    offset: int
    type: str = "micro"
    emotion: str | None = None
    raw_emotion: str | None = None

    def to_interval(self, skip: int = 1) -> Interval:
        """As an evaluation `Interval` in frames after the skip (integer division, as the code)."""
        return Interval(self.onset // skip, self.offset // skip,
                        apex=None if self.apex is None else self.apex // skip,
                        emotion=self.emotion, type=self.type)


@dataclass
class VideoEntry:
    """One long video: its frame folder (or video file), frame rate and annotations."""

    subject: str
    video: str  # dataset-wide id, unique, safe as a file name
    path: Path
    fps: float
    intervals: list[LabelledInterval] = field(default_factory=list)
    frame_numbering: FrameNumbering = "position"

    def micro(self) -> list[LabelledInterval]:
        return [iv for iv in self.intervals if iv.type == "micro"]

    def ground_truth(self, skip: int = 1, type: str | None = "micro") -> list[Interval]:
        """Annotations as evaluation intervals, in frames after ``skip`` (1: source frames)."""
        return [iv.to_interval(skip) for iv in self.intervals if type is None or iv.type == type]


RowAction = Literal["repaired", "skipped"]


@dataclass(frozen=True)
class RowIssue:
    """One label-sheet row that was repaired or skipped on import (never silently).

    ``row`` is the row number the user sees in Excel (or the CSV line, header = 1);
    ``reason`` a short key shared by rows with the same problem (for summaries),
    ``detail`` what was found and what was done.
    """

    file: str
    sheet: str
    row: int
    action: RowAction
    reason: str
    detail: str

    def message(self) -> str:
        where = f"{self.file}: sheet '{self.sheet}', row {self.row}" if self.sheet else \
            f"{self.file}: row {self.row}"
        return f"{where}: {self.detail}"


@dataclass
class Dataset:
    """A named list of videos plus the non-fatal problems met while loading.

    ``warnings`` are problems of the dataset as a whole (a missing folder, an unknown
    emotion label); ``row_issues`` the label rows that were repaired or skipped;
    ``rows_read`` how many label rows were read (0 when not from a sheet).
    """

    name: str
    videos: list[VideoEntry]
    warnings: list[str] = field(default_factory=list)
    row_issues: list[RowIssue] = field(default_factory=list)
    rows_read: int = 0

    def subjects(self) -> list[str]:
        return sorted({v.subject for v in self.videos}, key=natural_key)

    def video(self, video_id: str) -> VideoEntry:
        for v in self.videos:
            if v.video == video_id:
                return v
        raise KeyError(video_id)

    def intervals(self, type: str | None = "micro") -> list[LabelledInterval]:
        return [iv for v in self.videos for iv in v.intervals if type is None or iv.type == type]

    def messages(self) -> list[str]:
        """Every warning, dataset-wide first, then one line per repaired or skipped row."""
        return self.warnings + [f"{i.message()} ({i.action})" for i in self.row_issues]

    def label_summary(self) -> dict[str, object]:
        """Counts for a user: rows read, expressions kept (micro / macro), videos, subjects,
        and rows repaired / skipped by reason."""
        by: dict[str, dict[str, int]] = {"repaired": {}, "skipped": {}}
        for i in self.row_issues:
            by[i.action][i.reason] = by[i.action].get(i.reason, 0) + 1
        rows_repaired = len({(i.file, i.sheet, i.row) for i in self.row_issues if i.action == "repaired"})
        return {"rows": self.rows_read, "expressions": len(self.intervals(None)),
                "micro": len(self.intervals("micro")), "macro": len(self.intervals("macro")),
                "videos": len(self.videos), "videos_with_expressions": sum(1 for v in self.videos if v.intervals),
                "subjects": len(self.subjects()),
                "rows_repaired": rows_repaired,
                "rows_skipped": sum(by["skipped"].values()),
                "repaired": by["repaired"], "skipped": by["skipped"]}


FrameRounding = Literal["nearest", "floor"]
ApexPolicy = Literal["repair", "keep"]


@dataclass(frozen=True)
class LabelRules:
    """Label clean-up rules applied on import (to the sheet's own, usually 1-based, values).

    offset_zero_uses_apex: an offset of 0 means "not annotated"; use the apex (paper and code).
    drop_onset_zero: the public code drops every row whose onset is 0 (it treats them as
    overlong SAMM-LV samples). Off by default, where such a row is kept with its onset at
    the first frame (reported as repaired); on in the "metst_code" compatibility mode.
    frame_numbers: how a frame number that is not a whole number becomes a frame.
    "nearest" (default): SAMM-LV stores some numbers as 7284.999999999999, the binary
    floating-point rendering of 7285 typed in Excel; they are read as the whole number
    they stand for (a value within 1e-6 of a whole number, silently), and a number that
    really is fractional is rounded half up and reported. "floor": as the public code
    (``int(x - 1)``), which puts 7284.999999999999 one frame early.
    apex: "repair" (every mode's default) turns an apex of 0 or outside [onset, offset] into
    "no apex" and reports the row; "keep" keeps it as annotated, as the public code does
    (an apex of 0 still becomes "no apex": it is not a frame). No metric and no training
    label uses the apex, and manifests and projects refuse one outside its interval, so the
    public code's way of loading repairs it too; "keep" is for callers that hold the rows
    in memory only.

    Rows that cannot be used (a frame number that is not a number, an offset before the
    onset, an offset of 0 without apex, an unknown type) are skipped and reported under
    every rule set; they never abort the import.
    """

    offset_zero_uses_apex: bool = True
    drop_onset_zero: bool = False
    frame_numbers: FrameRounding = "nearest"
    apex: ApexPolicy = "repair"

    def __post_init__(self) -> None:
        if self.frame_numbers not in ("nearest", "floor"):
            raise ValueError(f"frame_numbers must be 'nearest' or 'floor', not {self.frame_numbers!r}")
        if self.apex not in ("repair", "keep"):
            raise ValueError(f"apex must be 'repair' or 'keep', not {self.apex!r}")

    @classmethod
    def for_mode(cls, mode: str) -> LabelRules:
        """Rules of an evaluation mode: "megc" (metst's, the default) or the public code's
        ("metst_code" 2025, "metst_code_2024": the same way of loading rows)."""
        if mode in ("metst_code", "metst_code_2024"):
            return cls(drop_onset_zero=True, frame_numbers="floor")
        if mode == "megc":
            return cls()
        raise ValueError(f"unknown mode {mode!r}")


def k_prime(intervals: Iterable[LabelledInterval | Interval], skip: int = 1) -> int:
    """Half the mean expression length in frames after the skip: int((mean(off-on) + 1) / 2).

    Pass the training folds' micro-expressions only (the public code also uses the test
    subject's). Onset and offset are divided by the skip first, as the labels are.
    """
    lengths = [iv.offset // skip - iv.onset // skip for iv in intervals]
    if not lengths:
        raise ValueError("k_prime needs at least one interval")
    return int((sum(lengths) / len(lengths) + 1) / 2)


# ---------------------------------------------------------------- emotions
def load_emotion_map(dataset: str) -> dict[str, str]:
    """Raw (lower-case) label -> class, from ``resources/emotions/<dataset>.json``."""
    node = resource_path("emotions", f"{dataset}.json")
    try:
        data = json.loads(node.read_text(encoding="utf-8"))
        classes = data["classes"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(str(node), f"cannot read emotion map: {exc}") from exc
    mapping: dict[str, str] = {}
    for cls, labels in classes.items():
        if cls not in EMOTIONS:
            raise DatasetError(str(node), f"unknown class {cls!r}; expected one of {EMOTIONS}")
        for label in labels:
            mapping[str(label).strip().lower()] = cls
    return mapping


def map_emotion(raw: object, mapping: dict[str, str]) -> tuple[str | None, str | None]:
    """(class or None, cleaned raw label or None); labels are stripped and lower-cased first."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return None, None
    text = str(raw).strip()
    if not text:
        return None, None
    return mapping.get(text.lower()), text


# ---------------------------------------------------------------- frames
_NUM = re.compile(r"(\d+)")


def natural_key(text: str) -> list[object]:
    """Sort key that orders embedded numbers numerically ("img2" before "img10")."""
    return [int(t) if t.isdigit() else t.lower() for t in _NUM.split(text)]


def _file_number(name: str) -> int | None:
    nums = _NUM.findall(Path(name).stem)
    return int(nums[-1]) if nums else None


def list_frames(entry: VideoEntry | Path, numbering: FrameNumbering | None = None,
                suffixes: Sequence[str] = (".jpg", ".jpeg", ".png", ".bmp")) -> list[Path]:
    """Frame files of a frame folder, list index = 0-based frame index.

    "position": frames in natural order (SAMM-LV, manifests). "number_minus_1": frame
    index = file number - 1 and a gap in the numbering is filled with the next existing
    file (CAS(ME)^3, CAS(ME)^2; as the public code does).
    """
    if isinstance(entry, VideoEntry):
        folder, numbering = entry.path, numbering or entry.frame_numbering
    else:
        folder, numbering = Path(entry), numbering or "position"
    if not folder.is_dir():
        raise DatasetError(folder, "frame folder not found")
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in suffixes),
                   key=lambda p: natural_key(p.name))
    if numbering == "position":
        return files
    out: list[Path] = []
    for f in files:
        n = _file_number(f.name)
        if n is None or n < 1:
            raise DatasetError(f, "frame file name has no frame number >= 1")
        while len(out) < n:
            out.append(f)
    return out
