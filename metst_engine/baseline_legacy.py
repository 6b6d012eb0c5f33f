"""The first training-free spotter (the app's default until issue 16), kept for comparison.

``metst predict --spotter legacy`` and ``bench/spotter_bench.py`` run it; the default is
:mod:`metst_engine.baseline`. It fails in two ways on videos it was not tuned on: a
macro-expression is cut into micro-length bumps by the 1-s running median, and small
mouth movements are drowned by the raw-pixel maximum over ROIs.


Method: after the optical-flow baselines of MEGC (He Yuhong's method, Moilanen's feature
difference): per ROI, the flow magnitude relative to the nose (already in the features)
is stitched into a per-frame curve; a local contrast against a running median removes
slow drift; the contrasts are smoothed and combined across ROIs by their maximum; peaks
above the Moilanen threshold ``mean + p (max - mean)`` (and an absolute floor, since that
threshold is relative and always finds a peak) become intervals bounded where the
contrast falls below a quarter of the peak; intervals longer than a micro-expression
(``max_seconds``) are dropped as macro-expressions, shorter than ``min_seconds`` as blinks
or jitter, and overlapping ones merged. Eye ROIs are left out by default: blinks dominate them.
It gives no emotion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter, uniform_filter1d
from scipy.signal import find_peaks

from .curves import roi_groups, roi_magnitude_curves
from .features import FeatureSet
from .intervals import Interval
from .postprocess import moilanen_threshold


@dataclass(frozen=True)
class LegacyParams:
    """Times in seconds (converted with the video's fps and frame skip), magnitudes in crop px."""

    p: float = 0.2                  #: Moilanen threshold fraction (0.2 chosen on synthetic seed 0, held on seed 11)
    floor: float = 0.8              #: minimum peak contrast (crop px) for a spot
    context_seconds: float = 1.0    #: running-median span the contrast is taken against
    smooth_seconds: float = 0.1     #: box smoothing of the contrast
    min_gap_seconds: float = 0.3    #: minimum distance between peaks
    max_seconds: float = 0.6        #: longer bumps are macro-expressions, not reported
    edge_fraction: float = 0.25     #: onset/offset where the contrast falls below this part of the peak
    min_seconds: float = 0.15       #: shorter bumps (blinks, jitter) are not reported
    rois: tuple[str, ...] = ()      #: ROIs to use; empty = all but ...
    skip_groups: tuple[str, ...] = ("eyes",)   #: ... these face regions (eyes: blinks dominate them)


@dataclass
class LegacyCurves:
    """Per-frame (after skip) curves the spotter worked on, for plots and ``--curves``."""

    contrast: dict[str, np.ndarray]   #: per ROI, smoothed local contrast
    combined: np.ndarray              #: max over ROIs: the spotting score
    threshold: float


def legacy_curves(feats: FeatureSet, params: LegacyParams = LegacyParams()) -> LegacyCurves:
    """Local-contrast curves per ROI and their maximum."""
    _, mags = roi_magnitude_curves(feats)
    step_rate = feats.fps / feats.skip
    context = max(3, int(round(params.context_seconds * step_rate)) | 1)
    smooth = max(1, int(round(params.smooth_seconds * step_rate)))
    groups = roi_groups(feats)
    names = [n for n in mags if (n in params.rois if params.rois else groups.get(n) not in params.skip_groups)]
    contrast = {}
    for name in names:
        m = mags[name]
        c = np.clip(m - median_filter(m, size=context, mode="nearest"), 0.0, None)
        contrast[name] = uniform_filter1d(c, size=smooth, mode="nearest")
    combined = np.max(np.stack(list(contrast.values())), axis=0)
    threshold = max(moilanen_threshold(combined, params.p), params.floor)
    return LegacyCurves(contrast, combined, threshold)


def legacy_spot(feats: FeatureSet, params: LegacyParams = LegacyParams()) -> list[Interval]:
    """Spotted micro-expression intervals in SOURCE frames (inclusive), score = peak contrast."""
    curves = legacy_curves(feats, params)
    s = curves.combined
    step_rate = feats.fps / feats.skip
    peaks, props = find_peaks(s, height=curves.threshold,
                              distance=max(1, int(round(params.min_gap_seconds * step_rate))))
    max_len = params.max_seconds * step_rate
    found: list[Interval] = []
    for peak, height in zip(peaks, props["peak_heights"]):
        edge = height * params.edge_fraction
        lo = peak
        while lo > 0 and s[lo - 1] >= edge:
            lo -= 1
        hi = peak
        while hi < len(s) - 1 and s[hi + 1] >= edge:
            hi += 1
        if not params.min_seconds * step_rate <= hi - lo + 1 <= max_len:
            continue
        found.append(Interval(onset=int(lo) * feats.skip, offset=min(int(hi) * feats.skip + feats.skip - 1,
                                                                     feats.n_frames - 1),
                              apex=int(peak) * feats.skip, score=float(height)))
    return _merge(found)


def _merge(intervals: list[Interval]) -> list[Interval]:
    """Merge overlapping intervals, keeping the apex and score of the strongest."""
    merged: list[Interval] = []
    for iv in sorted(intervals, key=lambda i: i.onset):
        if merged and iv.onset <= merged[-1].offset:
            a = merged[-1]
            best = a if (a.score or 0) >= (iv.score or 0) else iv
            merged[-1] = Interval(onset=a.onset, offset=max(a.offset, iv.offset), apex=best.apex, score=best.score)
        else:
            merged.append(iv)
    return merged
