"""Analyze one video: features, then intervals and per-frame curves, written as the files ``metst predict`` writes.

The one place that turns a video into a predictions CSV plus a curves ``.npz`` (the CLI's
``predict``, the GUI's Analyze and the demo project use it), with the model-free spotter
or a checkpoint. Progress and cancel callbacks reach the feature extraction, the slow part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .features import CancelFn, ExtractParams, FeatureSet, ProgressFn
from .intervals import Interval

BASELINE = "baseline"


@dataclass(frozen=True)
class AnalysisResult:
    """What one video's analysis wrote and how it was made (``params`` go into the prediction run)."""

    video: str
    predictions_csv: Path
    curves_npz: Path
    intervals: list[Interval]
    predictor: str                                  #: "baseline" or the checkpoint path
    params: dict[str, Any] = field(default_factory=dict)


def save_curves(path: str | Path, feats: FeatureSet, **arrays: Any) -> Path:
    """Per-frame curves file: stitched flow, channel names, n_frames, fps, the face box plus the given arrays.

    ``face_box`` is the median face crop (x0, y0, x1, y1, source px) over the windows: what
    a player's "zoom to face" shows (absent when no window found a face).
    """
    from .atomic import atomic_path
    from .curves import stitched_flow

    path = Path(path)
    extra: dict[str, Any] = {}
    if feats.crop_boxes.size:
        extra["face_box"] = np.median(feats.crop_boxes, axis=0).astype(np.float64)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, flow=stitched_flow(feats), channel_names=np.array(feats.channel_names, dtype=np.str_),
                 n_frames=np.int64(feats.n_frames), fps=np.float64(feats.fps), **extra, **arrays)
    return path


def analyze_video(path: str | Path, video: str, subject: str, out_dir: str | Path, *,
                  checkpoint: str | Path | None = None, rois: str = "metst", window: int = 50, skip: int = 1,
                  use_cache: bool = True, cache_dir: str | Path | None = None, workers: int = 1,
                  progress: ProgressFn | None = None, cancel: CancelFn | None = None,
                  device: str = "cpu") -> AnalysisResult:
    """Extract features and spot intervals; write ``OUT_DIR/<video>.csv`` and ``<video>_curves.npz``.

    Without ``checkpoint`` the model-free spotter runs on (rois, window, skip) features;
    with one, the checkpoint's ROI set, window and skip are used. Raises
    ``metst_engine.errors.Cancelled`` when ``cancel()`` turns true during extraction.
    """
    from .extraction import extract_video
    from .intervals_io import write_predictions

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, npz_path = out / f"{video}.csv", out / f"{video}_curves.npz"

    def check() -> None:
        _raise_if_cancelled(cancel)

    if checkpoint is None:
        from .baseline import BaselineParams, baseline_curves, spot
        from .curves import curve_to_source_frames

        params = ExtractParams(rois=rois, window=window, skip=skip)
        feats = extract_video(path, params, use_cache=use_cache, cache_dir=cache_dir, workers=workers,
                              progress=progress, cancel=cancel)
        check()
        bp = BaselineParams()
        intervals = spot(feats, bp)
        curves = baseline_curves(feats, bp)
        save_curves(npz_path, feats, spot_score=curve_to_source_frames(curves.combined, feats.skip, feats.n_frames),
                    spot_threshold=np.float32(curves.threshold), predictor=np.array(BASELINE))
        predictor = BASELINE
        run_params: dict[str, Any] = {"rois": rois, "window": window, "skip": skip, "threshold": float(curves.threshold)}
    else:
        from .inference import InferenceOptions, extract_params_for, predict_features
        from .models import load_checkpoint, read_checkpoint_meta
        from .video import open_video

        meta = read_checkpoint_meta(checkpoint)
        with open_video(path) as v:
            fps = v.fps
        params = extract_params_for(meta, fps, checkpoint)
        feats = extract_video(path, params, use_cache=use_cache, cache_dir=cache_dir, workers=workers,
                              progress=progress, cancel=cancel)
        check()
        model, meta = load_checkpoint(checkpoint, channels=feats.channel_names, window=feats.k, device=device)
        pred = predict_features(model, meta, feats, InferenceOptions(device=device), checkpoint)
        intervals = pred.intervals
        save_curves(npz_path, feats, spot_prob=pred.spot, spot_threshold=np.float32(pred.threshold),
                    recog_prob=pred.recog, class_names=np.array([*pred.class_names, "neutral"], dtype=np.str_),
                    predictor=np.array(str(checkpoint)))
        predictor = str(checkpoint)
        run_params = {"checkpoint": str(checkpoint), "rois": params.rois, "window": params.window,
                      "skip": pred.skip, "k_prime": pred.k_prime, "threshold": float(pred.threshold)}
    check()
    write_predictions(csv_path, [(subject, video, iv) for iv in intervals])
    return AnalysisResult(video, csv_path, npz_path, intervals, predictor, run_params)


def _raise_if_cancelled(cancel: CancelFn | None) -> None:
    from .errors import Cancelled

    if cancel is not None and cancel():
        raise Cancelled("analysis cancelled")
