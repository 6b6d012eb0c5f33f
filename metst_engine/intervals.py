"""Shared interval types and the emotion class set.

Frame numbering everywhere: 0-based frame indices, intervals inclusive [onset, offset].
Whether the indices are source frames or frames after the frame skip is up to the caller;
post-processing works after the skip and `postprocess.to_source_frames` converts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

#: The four emotion classes, in the order used by the recognition head (neutral is index 4).
EMOTIONS: tuple[str, ...] = ("negative", "positive", "surprise", "others")
#: The extra non-expression class of the recognition head.
NEUTRAL = "neutral"
#: Recognition head class order: the four emotions, then neutral.
HEAD_CLASSES: tuple[str, ...] = EMOTIONS + (NEUTRAL,)
#: Classes the paper scores recognition on (Table III).
PAPER_CLASSES: tuple[str, ...] = ("negative", "positive", "surprise")


@dataclass(frozen=True)
class Interval:
    """One expression interval, inclusive on both ends (a spotted one or a ground truth)."""

    onset: int
    offset: int
    apex: int | None = None
    emotion: str | None = None
    type: str = "micro"
    score: float | None = None

    def __post_init__(self) -> None:
        if self.offset < self.onset:
            raise ValueError(f"interval offset {self.offset} before onset {self.onset}")

    @property
    def length(self) -> int:
        """Number of frames covered (inclusive ends)."""
        return self.offset - self.onset + 1

    def clipped(self, n_frames: int) -> Interval:
        """The interval clipped to frames 0..n_frames-1 (MEGC: predictions lie inside the video)."""
        onset = min(max(self.onset, 0), n_frames - 1)
        offset = min(max(self.offset, 0), n_frames - 1)
        apex = None if self.apex is None else min(max(self.apex, onset), offset)
        return replace(self, onset=onset, offset=offset, apex=apex)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RejectedPeak:
    """A peak above the spotting threshold that got no interval, and why (the GUI's "why no proposal here?").

    ``reason`` comes from the code that dropped the peak; ``by`` is the apex of the interval
    that stands for it when it was merged into a stronger one (None otherwise).
    """

    apex: int
    score: float
    reason: str
    by: int | None = None

    def scaled(self, skip: int) -> RejectedPeak:
        """The same peak with frames after the skip turned into source frames."""
        return replace(self, apex=self.apex * skip, by=None if self.by is None else self.by * skip)


def interval_iou(a: Interval, b: Interval) -> float:
    """IoU of two inclusive frame intervals: |a ∩ b| / |a ∪ b| counted in frames."""
    inter = min(a.offset, b.offset) - max(a.onset, b.onset) + 1
    if inter <= 0:
        return 0.0
    union = a.length + b.length - inter
    return inter / union
