"""The training-free micro-expression spotter (the app's default without a model): per-region evidence.

Each ROI's flow (relative to the nose, as in the features) is chained over the windows into
one continuous displacement from the first frame (:func:`curves.chained_displacement`),
lightly smoothed. Motion is then judged per ROI against that ROI's own noise, at two scales:

* **short** (micro-expressions, blinks): the contrast against the running median of the
  surrounding ``context_seconds``; the ROI's *z* is its size in units of the ROI's noise
  (1.4826 x median absolute deviation of the contrast, per axis, over the whole video);
* **long** (macro-expressions): the distance from the *neutral face*, a running median over
  ``baseline_seconds`` from which the loud frames of earlier passes are left out (and
  bridged), so that a smile held for two seconds stays one long event.

A face region's *evidence* is the mean z of its most moved ROIs (``group_top`` of them), so
a small lip-corner pull counts as much as a brow raise of the same clarity, however different
their sizes in pixels. The curve the GUI shows is the largest short-scale evidence of any
region but the eyes (noise units), with the line ``threshold``.

Events are found per region: a run of evidence above the threshold is one event, its onset
and offset extrapolated from where it falls to half its peak (exact for a raised-cosine
profile). Long-scale events wider than a micro-expression at half height (``max_seconds``)
are macro-expressions, found first; a short-scale event is a micro-expression unless it is
that wide too, its apex lies inside a macro-expression of its own region (a piece of it),
or inside a blink: a micro-length event of the eye region (the lower-eyelid ROIs of
``metst_plus``, ``blink_threshold``) — the upper lid drags the skin under the brows, but
only a blink moves the lower lids. Events of several regions at the same time are one spot,
scored by the strongest region's peak evidence (noise units). No emotion.

The earlier spotter is :mod:`metst_engine.baseline_legacy` (``metst predict --spotter legacy``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.ndimage import binary_dilation, median_filter, uniform_filter1d

from .curves import chained_displacement, roi_groups
from .features import FeatureSet
from .intervals import Interval, RejectedPeak

#: The face region whose events mark blinks (the lower-eyelid ROIs of metst_plus).
EYES = "eyes"


@dataclass(frozen=True)
class BaselineParams:
    """Times in seconds (converted with the video's fps and frame skip); evidence in noise units.

    Chosen on ``bench/spotter_bench.py``'s tuning seeds (1-8), reported on others.
    """

    threshold: float = 8.0          #: short-scale evidence (noise units) a micro-expression must reach
    context_seconds: float = 1.0    #: short scale: contrast against the running median over this span
    baseline_seconds: float = 3.0   #: long scale: running-median span of the neutral face (events left out)
    macro_threshold: float = 12.0   #: long-scale evidence (noise units) of a macro-expression
    smooth_seconds: float = 0.07    #: box smoothing of the displacements (2 frames at 30 fps)
    group_top: float = 0.6          #: a region's evidence: mean z of this fraction of its ROIs (the most moved)
    min_seconds: float = 0.05       #: events narrower than this at half height are jitter
    max_seconds: float = 0.3        #: events wider than this at half height are macro-expressions
    blink_threshold: float = 10.0   #: short-scale eye-region evidence of a blink
    mask_fraction: float = 0.5      #: long scale: frames above this part of the threshold are left out of the neutral face
    passes: int = 3                 #: long-scale baseline passes (each leaves out what the previous ones found)
    edge_weight: bool = True        #: the first and last half window (one window measures them, not two) count sqrt(2) more noise
    rois: tuple[str, ...] = ()      #: ROIs to use; empty = all

    def validate(self) -> None:
        if min(self.threshold, self.macro_threshold, self.blink_threshold) <= 0:
            raise ValueError("thresholds must be > 0 (noise units)")
        if not 0 < self.group_top <= 1:
            raise ValueError(f"group_top must be in (0, 1], got {self.group_top}")
        if not 0 <= self.min_seconds < self.max_seconds:
            raise ValueError(f"need 0 <= min_seconds < max_seconds, got {self.min_seconds}, {self.max_seconds}")
        if min(self.context_seconds, self.baseline_seconds, self.smooth_seconds) <= 0 or not 0 < self.mask_fraction <= 1:
            raise ValueError("context, baseline and smoothing spans must be > 0 and mask_fraction in (0, 1]")
        if self.passes < 1:
            raise ValueError(f"passes must be >= 1, got {self.passes}")


@dataclass(frozen=True)
class Event:
    """One run of a region's evidence above its threshold, in frames after the skip (inclusive)."""

    group: str
    onset: int
    apex: int
    offset: int
    peak: float                     #: evidence at the apex, noise units
    kind: str                       #: "micro", "macro", "blink" or "jitter"
    reason: str = ""                #: why it is not a micro-expression (empty for one)
    scale: str = "short"            #: "short" (the curve the GUI shows) or "long" (against the neutral face)


@dataclass
class BaselineCurves:
    """Per-frame (after skip) curves the spotter worked on, for plots and ``--curves``."""

    z: dict[str, np.ndarray]          #: per ROI, short-scale contrast in its noise units
    evidence: dict[str, np.ndarray]   #: per face region, short scale (micro-expressions, blinks)
    long_evidence: dict[str, np.ndarray]   #: per face region, against the neutral face (macro-expressions)
    combined: np.ndarray              #: max short-scale evidence over the regions but the eyes: the spotting score
    threshold: float
    noise: dict[str, float] = field(default_factory=dict)   #: per ROI, short-scale noise (crop px, mean of x and y)
    events: list[Event] = field(default_factory=list)       #: every region's events, classified


def _frames(seconds: float, step_rate: float) -> int:
    return max(1, int(round(seconds * step_rate)))


def _running_median(d: np.ndarray, span: int, quiet: np.ndarray | None = None) -> np.ndarray:
    """Running median over ``span`` frames per column, of the ``quiet`` frames only (others bridged)."""
    if quiet is None or quiet.all():
        return median_filter(d, size=(span | 1, 1), mode="nearest")
    masked = pd.DataFrame(np.where(quiet[:, None], d, np.nan))
    base = masked.rolling(span | 1, center=True, min_periods=1).median()
    return base.interpolate(limit_direction="both").fillna(0.0).to_numpy()


def _z_scores(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(z per ROI (steps, R), noise per channel) from residual x/y channel pairs.

    The noise is the robust spread over all frames: the median absolute deviation ignores
    the events as long as they fill less than half the video.
    """
    sigma = 1.4826 * np.median(np.abs(r - np.median(r, axis=0)), axis=0)
    sigma = np.maximum(sigma, 1e-3)
    scaled = r / sigma
    return np.hypot(scaled[:, 0::2], scaled[:, 1::2]), sigma


def _evidence(z: np.ndarray, names: list[str], groups: dict[str, str], top: float) -> dict[str, np.ndarray]:
    """Per region: the mean of the largest ``top`` fraction of its ROIs' z at each frame."""
    members: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        members.setdefault(groups.get(n, n), []).append(i)
    out = {}
    for g, idx in members.items():
        m = max(1, math.ceil(top * len(idx)))
        out[g] = np.sort(z[:, idx], axis=1)[:, -m:].mean(axis=1)
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (start, end) of the True runs."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b) - 1) for a, b in zip(edges[0::2], edges[1::2])]


def _events(group: str, e: np.ndarray, threshold: float, params: BaselineParams, step_rate: float,
            scale: str = "short") -> list[Event]:
    """The runs of ``e`` above ``threshold``, measured at half their peak and classified by that width.

    Onset and offset lie as far before and after the half-height points as these lie from
    the apex (exact for a raised-cosine profile); the run itself always lies inside.
    """
    found = []
    for lo, hi in _runs(e >= threshold):
        apex = lo + int(np.argmax(e[lo:hi + 1]))
        peak = float(e[apex])
        a = apex
        while a > 0 and e[a - 1] >= peak / 2:
            a -= 1
        b = apex
        while b < len(e) - 1 and e[b + 1] >= peak / 2:
            b += 1
        width = (b - a + 1) / step_rate
        if width > params.max_seconds:
            kind, reason = "macro", (f"longer than {params.max_seconds * step_rate:.3g} frames "
                                     f"({params.max_seconds:g} s) at half height: a macro-expression")
        elif width >= params.min_seconds:
            kind, reason = "micro", ""
        else:
            kind, reason = "jitter", (f"shorter than {params.min_seconds * step_rate:.3g} frames "
                                      f"({params.min_seconds:g} s) at half height: jitter")
        found.append(Event(group, min(lo, max(0, 2 * a - apex)), apex, max(hi, min(len(e) - 1, 2 * b - apex)), peak,
                           kind, reason, scale))
    return found


def baseline_curves(feats: FeatureSet, params: BaselineParams = BaselineParams()) -> BaselineCurves:
    """The ROIs' z, the regions' evidence at both scales, the spotting score and the classified events."""
    params.validate()
    step_rate = feats.fps / feats.skip
    groups = roi_groups(feats)
    all_names = [n[:-2] for n in feats.channel_names[0::2]]
    keep = [i for i, n in enumerate(all_names) if not params.rois or n in params.rois]
    names = [all_names[i] for i in keep]
    d = chained_displacement(feats)
    if d.shape[0] == 0 or not names:
        return BaselineCurves({}, {}, {}, np.zeros(d.shape[0]), params.threshold)
    cols = np.array([[2 * i, 2 * i + 1] for i in keep]).ravel()
    d = uniform_filter1d(d[:, cols], size=_frames(params.smooth_seconds, step_rate), axis=0, mode="nearest")

    # long scale: distance from the neutral face; what stays away long is a macro-expression
    span = _frames(params.baseline_seconds, step_rate)
    quiet: np.ndarray | None = None
    for _ in range(params.passes):   # pass 1: plain running median; then the loud frames left out of it
        long_z, _ = _z_scores(d - _running_median(d, span, quiet))
        long_evidence = _evidence(long_z, names, groups, params.group_top)
        loud = np.zeros(len(d), dtype=bool)
        for e in long_evidence.values():
            loud |= e >= params.mask_fraction * params.macro_threshold
        loud = binary_dilation(loud, iterations=_frames(0.1, step_rate))
        quiet = ~loud if quiet is None else quiet & ~loud
    macros = [ev for g, e in long_evidence.items() if g != EYES
              for ev in _events(g, e, params.macro_threshold, params, step_rate, "long") if ev.kind == "macro"]

    # short scale: contrast against the surrounding second; micro-length bumps
    r = d - _running_median(d, _frames(params.context_seconds, step_rate))
    if params.edge_weight and feats.n_windows > 1:
        r[:feats.k // 2] /= math.sqrt(2)
        r[-(feats.k // 2):] /= math.sqrt(2)
    z, sigma = _z_scores(r)
    evidence = _evidence(z, names, groups, params.group_top)
    blinks = [replace(ev, kind="blink", reason="a blink") if ev.kind == "micro" else ev
              for ev in _events(EYES, evidence[EYES], params.blink_threshold, params, step_rate)] if EYES in evidence else []
    events = list(macros) + blinks
    for g, e in evidence.items():
        if g == EYES:
            continue
        for ev in _events(g, e, params.threshold, params, step_rate):
            if ev.kind == "micro" and any(m.group == g and m.onset <= ev.apex <= m.offset for m in macros):
                ev = replace(ev, kind="macro", reason=f"inside a macro-expression of the {g}")   # a piece of it
            elif ev.kind == "micro" and any(b.kind == "blink" and b.onset <= ev.apex <= b.offset for b in blinks):
                ev = replace(ev, kind="blink", reason="inside a blink")   # the lid drags the brows
            events.append(ev)
    face = [e for g, e in evidence.items() if g != EYES]
    combined = np.max(np.stack(face), axis=0) if face else np.zeros(len(d))
    noise = {n: float((sigma[2 * i] + sigma[2 * i + 1]) / 2) for i, n in enumerate(names)}
    return BaselineCurves(dict(zip(names, z.T)), evidence, long_evidence, combined, params.threshold, noise,
                          sorted(events, key=lambda e: (e.onset, e.offset)))


def _overlaps(a: Event, b: Event) -> bool:
    return a.onset <= b.offset and b.onset <= a.offset


def spot(feats: FeatureSet, params: BaselineParams = BaselineParams()) -> list[Interval]:
    """Spotted micro-expression intervals in SOURCE frames (inclusive), score = peak evidence (noise units)."""
    return baseline_spotting(feats, params)[1]


def baseline_spotting(feats: FeatureSet, params: BaselineParams = BaselineParams()
                      ) -> tuple[BaselineCurves, list[Interval], list[RejectedPeak]]:
    """The curves, the spotted intervals (as :func:`spot`) and the shown curve's peaks above the
    threshold that got none (SOURCE frames), each with the reason that dropped it here."""
    curves = baseline_curves(feats, params)
    shown = [e for e in curves.events if e.scale == "short" and e.group != EYES]
    micro = sorted((e for e in shown if e.kind == "micro"), key=lambda e: -e.peak)
    kept: list[Event] = []
    s = feats.skip
    rejected = [RejectedPeak(e.apex * s, e.peak, e.reason) for e in shown if e.kind != "micro"]
    for ev in micro:                 # one spot per moment: the strongest region's event stands for the others
        stronger = next((k for k in kept if _overlaps(ev, k)), None)
        if stronger is None:
            kept.append(ev)
        else:
            rejected.append(RejectedPeak(ev.apex * s, ev.peak, f"merged into the stronger {stronger.group} spot",
                                         stronger.apex * s))
    intervals = [Interval(onset=e.onset * s, offset=min(e.offset * s + s - 1, feats.n_frames - 1), apex=e.apex * s,
                          score=e.peak) for e in sorted(kept, key=lambda e: e.onset)]
    return curves, intervals, sorted(rejected, key=lambda r: r.apex)
