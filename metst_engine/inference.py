"""Run a checkpoint over a video's windows and turn its outputs into intervals.

Window outputs are stitched per frame (spotting probability, recognition probabilities)
in the video's own frame numbering, then post-processed with the checkpoint's k' and p
(each overridable). A video whose fps differs from the checkpoint's gets its frame skip
derived from the two, so the model sees the step rate it was trained on; beyond a 10%
mismatch that is refused unless forced.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from .alignment import LEGACY_ALIGNMENT
from .curves import curve_to_source_frames
from .errors import CheckpointError, InputError
from .features import ExtractParams, FeatureSet
from .intervals import HEAD_CLASSES, Interval, RejectedPeak
from .models import check_compatible
from .postprocess import (
    THRESHOLD_P,
    PostprocessParams,
    postprocess_explained,
    spot_threshold,
    stitch_windows,
)
from .postprocess import to_source_frames as iv_to_source

FPS_TOLERANCE = 0.10


@dataclass(frozen=True)
class InferenceOptions:
    """Overrides of what the checkpoint says (None = the checkpoint's value)."""

    k_prime: int | None = None
    p: float | None = None
    floor: float = 0.0                 #: absolute minimum spotting probability of a peak
    strategy: str = "spotting_mainly"  #: none | spotting_mainly (the 2025 code's default) | result_synergy
    batch_size: int = 256
    device: str = "cpu"
    force_fps: bool = False


@dataclass
class Prediction:
    """Intervals in source frames plus the per-frame curves they came from (NaN where uncovered)."""

    intervals: list[Interval]
    spot: np.ndarray            #: (n_frames,) spotting probability
    recog: np.ndarray           #: (n_frames, classes + 1) recognition probabilities, neutral last
    class_names: list[str]
    threshold: float
    k_prime: int
    skip: int
    rejected: list[RejectedPeak] = field(default_factory=list)   #: peaks above the threshold left out, and why


def derive_skip(video_fps: float, ckpt_fps: float | None, ckpt_skip: int, path: str | Path | None = None,
                force: bool = False) -> int:
    """Frame skip that brings this video to the checkpoint's step rate (ckpt_fps / ckpt_skip)."""
    if not ckpt_fps:
        return ckpt_skip
    rate = ckpt_fps / ckpt_skip
    skip = max(1, int(round(video_fps / rate)))
    mismatch = abs(video_fps / skip - rate) / rate
    if mismatch > FPS_TOLERANCE and not force:
        raise InputError(path, f"{video_fps:g} fps does not fit the checkpoint (trained at {ckpt_fps:g} fps with skip "
                               f"{ckpt_skip}, i.e. {rate:g} steps/s; the nearest skip {skip} gives "
                               f"{video_fps / skip:g} steps/s, {mismatch:.0%} off; --force-fps runs it anyway)")
    return skip


def run_model(model: torch.nn.Module, features: np.ndarray, batch_size: int = 256,
              device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """(spot (n, k), recognition probabilities (n, k, classes + 1)) for every window."""
    spots, recogs = [], []
    model = model.to(device).eval()
    with torch.inference_mode():
        for i in range(0, len(features), batch_size):
            # a copy: features may be read-only (memory-mapped, or a Ray object shared by workers)
            x = torch.from_numpy(np.array(features[i:i + batch_size], dtype=np.float32)).to(device)
            out = model(x)
            spots.append(out.spot.float().cpu().numpy())
            recogs.append(torch.softmax(out.recog.float(), dim=-1).cpu().numpy())
    return np.concatenate(spots), np.concatenate(recogs)


def predict_features(model: torch.nn.Module, meta, feats: FeatureSet, opts: InferenceOptions = InferenceOptions(),
                     checkpoint: str | Path | None = None) -> Prediction:
    """Intervals and curves of one video's features with a loaded checkpoint."""
    check_compatible(meta, checkpoint, channels=feats.channel_names, window=feats.k)
    if meta.k_prime is None and opts.k_prime is None:
        raise CheckpointError(checkpoint, "has no k' (half the mean ME length); give one explicitly")
    spot_w, recog_w = run_model(model, feats.features, opts.batch_size, opts.device)
    spot = stitch_windows(spot_w)
    recog = stitch_windows(recog_w)
    class_names = list(meta.class_names) or list(HEAD_CLASSES[:-1])
    pp = PostprocessParams(k_prime=int(opts.k_prime if opts.k_prime is not None else meta.k_prime),
                           p=float(opts.p if opts.p is not None else (meta.threshold_p or THRESHOLD_P)),
                           strategy="spotting_mainly" if opts.strategy == "none" else opts.strategy,  # type: ignore[arg-type]
                           skip=1, floor=opts.floor)
    after_skip, rejected = postprocess_explained(spot, recog, pp, class_names=(*class_names, "neutral"))
    intervals = []
    for iv in after_skip:
        src = iv_to_source(iv, feats.skip)
        src = replace(src, offset=min(src.offset, feats.n_frames - 1),
                      emotion=None if opts.strategy == "none" else src.emotion)
        intervals.append(src)
    threshold = spot_threshold(spot, pp)
    return Prediction(intervals, curve_to_source_frames(spot, feats.skip, feats.n_frames),
                      curve_to_source_frames(recog, feats.skip, feats.n_frames), class_names, threshold, pp.k_prime,
                      feats.skip, [r.scaled(feats.skip) for r in rejected])


def extract_params_for(meta, video_fps: float, path: str | Path | None = None, force_fps: bool = False) -> ExtractParams:
    """The feature parameters a checkpoint was trained with, with the skip fitted to this video's fps."""
    if not meta.roi_set or not meta.window:
        raise CheckpointError(path, "does not say which ROI set and window it was trained on")
    return ExtractParams(rois=meta.roi_set, window=int(meta.window), alignment=meta.alignment or LEGACY_ALIGNMENT,
                         skip=derive_skip(video_fps, meta.fps, meta.frame_skip, path, force_fps))
