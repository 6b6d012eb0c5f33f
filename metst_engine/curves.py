"""Per-frame curves from windowed features, for plots and model-free inspection.

Windows overlap by half, so a per-frame value needs the same stitching as the model
outputs (window 0 gives its whole span, every later window its second half); frame j
after the skip is source frame j * skip.
"""

from __future__ import annotations

import numpy as np

from .features import FeatureSet
from .postprocess import stitch_windows


def roi_magnitude_curves(feats: FeatureSet) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(source frame numbers, {ROI name: flow magnitude per frame in crop px})."""
    mag = np.hypot(feats.features[:, 0::2], feats.features[:, 1::2])          # (windows, rois, k)
    names = [n[:-2] for n in feats.channel_names[0::2]]
    curves = {name: stitch_windows(mag[:, i, :]) for i, name in enumerate(names)}
    n = len(next(iter(curves.values())))
    return np.arange(n, dtype=np.int64) * feats.skip, curves


def curve_to_source_frames(curve: np.ndarray, skip: int, n_frames: int) -> np.ndarray:
    """Spread an after-skip curve over source frames (step j covers frames j*s .. j*s+s-1); NaN where uncovered."""
    out = np.full((n_frames, *curve.shape[1:]), np.nan, dtype=np.float32)
    spread = np.repeat(curve.astype(np.float32), skip, axis=0)[:n_frames]
    out[: len(spread)] = spread
    return out


def stitched_flow(feats: FeatureSet) -> np.ndarray:
    """Every feature channel stitched per frame in source numbering: (n_frames, C), NaN where uncovered."""
    per_step = stitch_windows(np.transpose(feats.features, (0, 2, 1)))       # (steps, C)
    return curve_to_source_frames(per_step, feats.skip, feats.n_frames)
