"""Agreement between two annotators: Cohen's kappa on per-frame labels and event F1 at IoU >= 0.5.

Per-frame labels are "none" or the interval's emotion ("unspecified" when it has none);
where one annotator's intervals overlap, the later onset wins. Events are matched one to
one with the MEGC matching of :mod:`metst_engine.evaluation`, so F1 = 2 matches / (n_a + n_b).
:class:`AgreementPart` compares two annotators of a project.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from metst_engine.intervals import Interval
from metst_engine.project.edits import ReviewPart
from metst_engine.project.records import IntervalRecord

NONE_LABEL = "none"
UNSPECIFIED = "unspecified"


@dataclass(frozen=True)
class Agreement:
    """Kappa over all frames of the videos compared; event counts and F1 (NaN: nothing to compare)."""

    kappa: float
    event_f1: float
    matched: int
    events_a: int
    events_b: int
    frames: int
    videos: int

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def frame_labels(n_frames: int, intervals: Sequence[Interval]) -> np.ndarray:
    """Label per frame: "none", or the emotion of the interval covering it."""
    labels = np.full(n_frames, NONE_LABEL, dtype=object)
    for iv in sorted(intervals, key=lambda i: (i.onset, i.offset)):
        labels[max(iv.onset, 0):min(iv.offset, n_frames - 1) + 1] = iv.emotion or UNSPECIFIED
    return labels


def agreement(per_video: Sequence[tuple[int, Sequence[Interval], Sequence[Interval]]],
              iou_threshold: float = 0.5) -> Agreement:
    """Agreement over videos given as (n_frames, intervals of A, intervals of B)."""
    from sklearn.metrics import cohen_kappa_score

    from metst_engine.evaluation import match_megc  # scipy: imported only when agreement is asked

    la, lb = [], []
    matched = n_a = n_b = 0
    for n_frames, a, b in per_video:
        la.append(frame_labels(n_frames, a))
        lb.append(frame_labels(n_frames, b))
        matched += len(match_megc(list(a), list(b), iou_threshold))
        n_a, n_b = n_a + len(a), n_b + len(b)
    frames_a = np.concatenate(la) if la else np.zeros(0, dtype=object)
    frames_b = np.concatenate(lb) if lb else np.zeros(0, dtype=object)
    if frames_a.size == 0:
        kappa = math.nan
    elif len(set(frames_a) | set(frames_b)) == 1:
        kappa = 1.0          # both gave the same single label everywhere: kappa is undefined but they agree
    else:
        kappa = float(cohen_kappa_score(frames_a.astype(str), frames_b.astype(str)))
    f1 = 2 * matched / (n_a + n_b) if n_a + n_b else math.nan
    return Agreement(kappa, f1, matched, n_a, n_b, int(frames_a.size), len(per_video))


class AgreementPart(ReviewPart):
    """Agreement between two annotators of a project."""

    def agreement(self, annotator_a: str, annotator_b: str, video: int | str | None = None) -> Agreement:
        """Cohen's kappa on per-frame labels and event F1 at IoU >= 0.5 between two annotators.

        Counts the intervals each annotator decided on and did not reject, over the videos
        where at least one of them has such an interval (or the one video asked for).
        """
        per_video = []
        for v in ([self.video(video)] if video is not None else self.videos()):
            a = [r for r in self.intervals(v.id, annotator=annotator_a) if r.state != "rejected"]
            b = [r for r in self.intervals(v.id, annotator=annotator_b) if r.state != "rejected"]
            if a or b or video is not None:
                per_video.append((v.n_frames, [_as_interval(r) for r in a], [_as_interval(r) for r in b]))
        return agreement(per_video)


def _as_interval(r: IntervalRecord) -> Interval:
    return Interval(r.onset, r.offset, apex=r.apex, emotion=r.emotion, type=r.type)
