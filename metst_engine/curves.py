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


def select_rois(feats: FeatureSet, roi_set: str) -> FeatureSet:
    """The channels of ``roi_set``'s ROIs, a subset of the features' set, as if extracted with it.

    Exact where the two sets share the ROIs' boxes and flow fields (``metst`` inside
    ``metst_plus``); a missing ROI raises ``ValueError``.
    """
    from dataclasses import replace

    from .rois import load_roi_set

    names = [r.name for r in load_roi_set(roi_set).rois]
    idx = [feats.channel_names.index(f"{n}_{axis}") for n in names for axis in "xy"]
    return replace(feats, features=feats.features[:, idx], channel_names=[feats.channel_names[i] for i in idx],
                   params=dict(feats.params, roi_set=roi_set))


def roi_groups(feats: FeatureSet) -> dict[str, str]:
    """{ROI name: its face region ("brows", "mouth", "nose", "eyes", ...)} from the features' ROI set.

    Empty when the set cannot be loaded (a custom set no longer on disk): callers then
    treat every ROI alike.
    """
    from .errors import InputError
    from .rois import load_roi_set

    try:
        roi_set = load_roi_set(feats.params.get("roi_set", ""))
    except InputError:
        return {}
    return {r.name: r.group for r in roi_set.rois}


def chained_displacement(feats: FeatureSet) -> np.ndarray:
    """Every channel as one continuous displacement from the first frame: (steps, C), crop px.

    A window's features are displacements from the window's first frame, so the stitched
    curve jumps wherever the reference frame changes. Windows overlap by half: on the
    overlap both measure the same frames from their own references, and the median
    difference is how far the later reference moved; adding it up chains the windows
    (errors add up as a slow random walk, which a running baseline removes). Where two
    windows cover a frame, the value is the mean of their two chained measurements (less
    noise, and half of a glitch of one of them). Same length as :func:`stitch_windows`'
    curves; frame j after the skip is source frame j * skip.
    """
    f = np.asarray(feats.features, dtype=np.float64)
    n_windows, n_channels, k = f.shape
    half = k // 2
    total = np.zeros(((n_windows + 1) * half if n_windows else 0, n_channels))
    if n_windows == 0:
        return total
    count = np.zeros((len(total), 1))
    reference = np.zeros(n_channels)
    for w in range(n_windows):
        if w:
            reference = reference + np.median(f[w - 1][:, half:] - f[w][:, :half], axis=1)
        total[w * half:w * half + k] += reference + f[w].T
        count[w * half:w * half + k] += 1
    return total / np.maximum(count, 1)


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


FLOW_COMPONENTS = ("x", "y", "magnitude")


def roi_flow_components(flow: np.ndarray, channel_names: list[str], component: str) -> dict[str, np.ndarray]:
    """{ROI name: its per-frame curve} from stitched flow (n_frames, C) with ``<roi>_x, <roi>_y`` channels.

    ``component``: 'x', 'y' or 'magnitude' (hypot of the pair); NaN stays NaN (uncovered frames).
    """
    if component not in FLOW_COMPONENTS:
        raise ValueError(f"component must be one of {FLOW_COMPONENTS}, got {component!r}")
    index = {name: i for i, name in enumerate(channel_names)}
    rois = [name[:-2] for name in channel_names if name.endswith("_x") and f"{name[:-2]}_y" in index]
    out: dict[str, np.ndarray] = {}
    for roi in rois:
        x, y = flow[:, index[f"{roi}_x"]], flow[:, index[f"{roi}_y"]]
        out[roi] = x if component == "x" else y if component == "y" else np.hypot(x, y)
    return out
