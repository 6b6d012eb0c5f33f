"""From per-window network outputs to spotted, recognised intervals.

All indices here are frames after the frame skip (index j stands for source frames
j*s .. j*s + s - 1); `to_source_frames` converts an interval back to source frames.

Choices (documented because the paper leaves them open):

- Stitching: window 0 writes all its k steps, window i >= 1 writes its second half at
  frames (i+1)*k/2 .. (i+2)*k/2 - 1, by position *in the video* (the public code decides
  "first window" by position in the inference batch; that bug is not reproduced).
- Smoothing: a box (moving-average) filter of exactly 2k' frames,
  ``scipy.ndimage.uniform_filter1d(size=2k', mode="constant", cval=0)``, which equals the
  public code's ``np.convolve(y, ones(2k')/2k', mode="same")`` whenever the curve has at
  least 2k' values (shorter curves keep their length here) (zero padding, so values
  near the ends are damped; the window of frame i covers i-k' .. i+k'-1).
  ``edge_mode`` may be set to any scipy mode (e.g. "nearest") to avoid the damping.
- Threshold: mean + p (max - mean) of the (smoothed) curve (Moilanen), p = 0.55, and at
  least ``floor`` (default 0: off), since the relative threshold always finds a peak.
- Peaks: ``scipy.signal.find_peaks(height=threshold, distance=max(k', 1))``;
  interval [peak - k', peak + k'], clipped to the video unless ``clip=False`` (compat).
- Recognition: per-frame argmax, then the majority label over frames onset+1 .. offset-1
  (ends excluded); when that is empty (intervals of <= 2 frames) the whole interval is
  used. Ties of the per-frame argmax and of the majority go to the lowest class index.
  ``recognition_span="metst_code"`` votes over the public code's slice instead
  (frames onset+1 .. offset-2, ties to the label met first), for reproductions.
  "spotting_mainly" takes the argmax over the four emotions only; "result_synergy" keeps
  neutral in the argmax and drops intervals whose majority is neutral.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import find_peaks

from metst_engine.intervals import (
    EMOTIONS,
    HEAD_CLASSES,
    NEUTRAL,
    Interval,
    RejectedPeak,
)

#: The Moilanen threshold fraction p of the spotting curve (the authors' 0.55).
THRESHOLD_P = 0.55

Strategy = Literal["spotting_mainly", "result_synergy"]
RecognitionSpan = Literal["inner", "metst_code"]
STRATEGIES: tuple[str, ...] = ("spotting_mainly", "result_synergy")


@dataclass(frozen=True)
class PostprocessParams:
    """Post-processing settings; k_prime normally comes from the checkpoint (training folds)."""

    k_prime: int = 6  # half the mean ME length, frames after skip (placeholder default)
    p: float = THRESHOLD_P  # Moilanen threshold fraction
    smoothing: bool = True
    strategy: Strategy = "spotting_mainly"
    skip: int = 1  # frame skip: source frames per curve step
    clip: bool = True  # clip intervals to the video (MEGC); False reproduces the public code
    edge_mode: str = "constant"  # scipy.ndimage mode of the box filter
    recognition_span: RecognitionSpan = "inner"  # frames voting on an interval's emotion
    floor: float = 0.0  # absolute minimum threshold: Moilanen's is relative and always finds a peak

    def __post_init__(self) -> None:
        if self.k_prime < 0:
            raise ValueError(f"k_prime must be >= 0, got {self.k_prime}")
        if self.skip < 1:
            raise ValueError(f"skip must be >= 1, got {self.skip}")
        if self.recognition_span not in ("inner", "metst_code"):
            raise ValueError(f"unknown recognition_span {self.recognition_span!r}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; expected one of {STRATEGIES}")


def params_for_mode(mode: str, **overrides: object) -> PostprocessParams:
    """Defaults of an evaluation mode: "megc" (clipped, inner span) or "metst_code"
    (unclipped intervals, the code's recognition slice)."""
    if mode == "megc":
        base: dict[str, object] = {}
    elif mode == "metst_code":
        base = {"clip": False, "recognition_span": "metst_code"}
    else:
        raise ValueError(f"unknown mode {mode!r}")
    return PostprocessParams(**{**base, **overrides})  # type: ignore[arg-type]


def curve_length(n_windows: int, k: int) -> int:
    """Length of the stitched curve: (n_windows + 1) * k/2 (0 without windows)."""
    return 0 if n_windows <= 0 else (n_windows + 1) * (k // 2)


def stitch_windows(window_outputs: np.ndarray) -> np.ndarray:
    """Stitch (n_windows, k[, c]) window outputs into one (T[, c]) curve, T = (n+1)k/2."""
    w = np.asarray(window_outputs)
    if w.ndim not in (2, 3):
        raise ValueError(f"window outputs must be (n_windows, k) or (n_windows, k, c), got {w.shape}")
    n, k = w.shape[0], w.shape[1]
    if k % 2:
        raise ValueError(f"window length k must be even, got {k}")
    half = k // 2
    out = np.zeros((curve_length(n, k),) + w.shape[2:], dtype=w.dtype)
    if n == 0:
        return out
    out[:k] = w[0]
    for i in range(1, n):
        out[(i + 1) * half:(i + 2) * half] = w[i, half:]
    return out


def to_source_frames(interval: Interval, skip: int) -> Interval:
    """Map an interval in frames after the skip to source frames (offset covers its step)."""
    if skip < 1:
        raise ValueError(f"skip must be >= 1, got {skip}")
    return replace(interval, onset=interval.onset * skip,
                   offset=interval.offset * skip + skip - 1,
                   apex=None if interval.apex is None else interval.apex * skip)


def to_skipped_frame(frame: int, skip: int) -> int:
    """Index after the skip of a 0-based source frame (integer division, as the labels)."""
    return frame // skip


def smooth_curve(curve: np.ndarray, k_prime: int, edge_mode: str = "constant") -> np.ndarray:
    """Box filter of length 2k' (no-op for k' = 0); see module docstring for alignment."""
    c = np.asarray(curve, dtype=float)
    size = 2 * k_prime
    if size <= 1 or c.size == 0:
        return c.copy()
    return uniform_filter1d(c, size=size, mode=edge_mode, cval=0.0)


def moilanen_threshold(curve: np.ndarray, p: float = THRESHOLD_P) -> float:
    """mean + p (max - mean): Moilanen's adaptive threshold."""
    c = np.asarray(curve, dtype=float)
    mean = float(c.mean())
    return mean + p * (float(c.max()) - mean)


def _threshold(smoothed: np.ndarray, params: PostprocessParams) -> float:
    return max(moilanen_threshold(smoothed, params.p), params.floor)


def spot_threshold(curve: np.ndarray, params: PostprocessParams) -> float:
    """The peak threshold :func:`spot_intervals` applies to this curve (for plots and reports)."""
    c = np.asarray(curve, dtype=float)
    return _threshold(smooth_curve(c, params.k_prime, params.edge_mode) if params.smoothing else c, params)


def spot_intervals(curve: np.ndarray, params: PostprocessParams) -> list[Interval]:
    """Spotted intervals (frames after skip) of one video's spotting curve.

    Each interval has apex = peak frame and score = smoothed curve value at the peak.
    """
    return spot_peaks(curve, params)[0]


def spot_peaks(curve: np.ndarray, params: PostprocessParams) -> tuple[list[Interval], list[RejectedPeak]]:
    """:func:`spot_intervals`, plus the peaks above the threshold that ``find_peaks``' distance
    (k') dropped: each lies closer than k' to a higher peak, which stands for it (``by``)."""
    c = np.asarray(curve, dtype=float)
    if c.size == 0:
        return [], []
    kp = params.k_prime
    s = smooth_curve(c, kp, params.edge_mode) if params.smoothing else c
    height = _threshold(s, params)
    peaks, _ = find_peaks(s, height=height, distance=max(kp, 1))
    out = []
    for peak in peaks:
        iv = Interval(int(peak) - kp, int(peak) + kp, apex=int(peak), score=float(s[peak]))
        out.append(iv.clipped(c.size) if params.clip else iv)
    rejected = []
    if kp > 1:
        kept = set(peaks.tolist())
        for peak in find_peaks(s, height=height)[0]:
            if int(peak) not in kept:
                by = int(min(peaks, key=lambda q: (abs(int(q) - int(peak)), -s[q])))
                rejected.append(RejectedPeak(int(peak), float(s[peak]),
                                             f"closer than k' = {kp} frames to a higher peak", by))
    return out, rejected


def frame_labels(recog_scores: np.ndarray, strategy: Strategy = "spotting_mainly") -> np.ndarray:
    """Per-frame class index from (T, 5) head scores (emotions then neutral)."""
    r = np.asarray(recog_scores)
    if r.ndim != 2 or r.shape[1] < len(EMOTIONS):
        raise ValueError(f"recognition scores must be (T, classes[+1]), got {r.shape}")
    if strategy == "spotting_mainly":
        r = r[:, :len(EMOTIONS)]
    return np.argmax(r, axis=1)  # first maximum: lowest class index on ties


def majority_label(labels: np.ndarray, onset: int, offset: int, n_classes: int,
                   span: RecognitionSpan = "inner") -> int | None:
    """Most frequent label of an interval; None when it lies outside the curve.

    "inner": frames onset+1 .. offset-1, ties to the lowest class index. "metst_code": the
    public code's slice ``labels[max(0, onset+1):max(1, offset-1)]`` (frames onset+1 ..
    offset-2), ties to the label met first in time. Either falls back to the whole
    interval when its span is empty.
    """
    n = len(labels)
    if span == "metst_code":
        lo, hi = max(0, onset + 1), min(max(1, offset - 1), n) - 1
    else:
        lo, hi = max(onset + 1, 0), min(offset - 1, n - 1)
    if lo > hi:
        lo, hi = max(onset, 0), min(offset, n - 1)
    if lo > hi:
        return None
    seg = np.asarray(labels[lo:hi + 1])
    counts = np.bincount(seg, minlength=n_classes)
    if span == "metst_code":
        best = np.flatnonzero(counts == counts.max())
        for v in seg:  # first label in time among the tied ones (Counter.most_common)
            if v in best:
                return int(v)
    return int(np.argmax(counts))


def postprocess_video(spot_curve: np.ndarray, recog_scores: np.ndarray | None,
                      params: PostprocessParams,
                      class_names: tuple[str, ...] = HEAD_CLASSES) -> list[Interval]:
    """Spot and recognise one video; intervals in frames after skip, emotions named.

    With "result_synergy", intervals whose majority class is neutral are dropped.
    """
    return postprocess_explained(spot_curve, recog_scores, params, class_names)[0]


def postprocess_explained(spot_curve: np.ndarray, recog_scores: np.ndarray | None, params: PostprocessParams,
                          class_names: tuple[str, ...] = HEAD_CLASSES) -> tuple[list[Interval], list[RejectedPeak]]:
    """:func:`postprocess_video` plus the peaks above the threshold it dropped, with the reason."""
    intervals, rejected = spot_peaks(spot_curve, params)
    if recog_scores is None:
        return intervals, rejected
    labels = frame_labels(recog_scores, params.strategy)
    out = []
    for iv in intervals:
        label = majority_label(labels, iv.onset, iv.offset, len(class_names),
                               params.recognition_span)
        name = None if label is None else class_names[label]
        if params.strategy == "result_synergy" and name == NEUTRAL:
            rejected.append(RejectedPeak(int(iv.apex or iv.onset), float(iv.score or 0.0),
                                         "recognised as neutral (result_synergy drops those)"))
            continue
        out.append(replace(iv, emotion=name))
    return out, sorted(rejected, key=lambda r: r.apex)


def postprocess_windows(spot_windows: np.ndarray, recog_windows: np.ndarray | None,
                        params: PostprocessParams, source: bool = False) -> list[Interval]:
    """Stitch window outputs of one video and post-process; ``source=True`` maps to source frames."""
    spot = stitch_windows(spot_windows)
    recog = None if recog_windows is None else stitch_windows(recog_windows)
    out = postprocess_video(spot, recog, params)
    return [to_source_frames(iv, params.skip) for iv in out] if source else out


__all__ = [
    "STRATEGIES",
    "PostprocessParams",
    "RecognitionSpan",
    "Strategy",
    "curve_length",
    "frame_labels",
    "majority_label",
    "moilanen_threshold",
    "params_for_mode",
    "postprocess_explained",
    "postprocess_video",
    "postprocess_windows",
    "smooth_curve",
    "spot_intervals",
    "spot_peaks",
    "stitch_windows",
    "to_skipped_frame",
    "to_source_frames",
]
