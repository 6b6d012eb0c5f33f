"""Analyze one video: features, then intervals and per-frame curves, written as the files ``metst predict`` writes.

The one place that turns a video into a predictions CSV plus a curves ``.npz`` (the CLI's
``predict``, the GUI's Analyze and the demo project use it), with the model-free spotter
or a checkpoint. Progress and cancel callbacks reach the feature extraction, the slow part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import CheckpointError
from .features import CancelFn, ExtractParams, FeatureSet, ProgressFn
from .intervals import Interval

if TYPE_CHECKING:   # torch comes with inference: imported when a video is analysed, not at GUI start
    from .baseline import BaselineParams
    from .baseline_legacy import LegacyParams
    from .feature_runner import ExtractionPool, FeatureChunk
    from .inference import InferenceOptions

BASELINE = "baseline"
#: The model-free spotters (``metst predict --spotter``): per-region evidence in noise units
#: (:mod:`.baseline`, the default) and the earlier raw-magnitude one (:mod:`.baseline_legacy`).
EVIDENCE, LEGACY = "evidence", "legacy"
SPOTTERS = (EVIDENCE, LEGACY)


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
    a player's "zoom to face" shows (absent when no window found a face); ``face_boxes`` the
    per-window crops, from which the face proxy takes its stable crop (:mod:`.video.face_proxy`).
    """
    from .atomic import atomic_path
    from .curves import stitched_flow

    path = Path(path)
    extra: dict[str, Any] = {}
    if feats.crop_boxes.size:
        extra["face_box"] = np.median(feats.crop_boxes, axis=0).astype(np.float64)
        extra["face_boxes"] = np.asarray(feats.crop_boxes, dtype=np.int64)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, flow=stitched_flow(feats), channel_names=np.array(feats.channel_names, dtype=np.str_),
                 n_frames=np.int64(feats.n_frames), fps=np.float64(feats.fps), **extra, **arrays)
    return path


@dataclass(frozen=True)
class Spotting:
    """One video's features, intervals (source frames) and the per-frame arrays for :func:`save_curves`."""

    feats: FeatureSet
    intervals: list[Interval]
    curves: dict[str, Any]
    predictor: str                                  #: "baseline" or the checkpoint path
    params: dict[str, Any]                          #: what made them (a prediction run's parameters)


@dataclass(frozen=True)
class PartialSpotting:
    """Intervals in the first ``upto_frame`` source frames, found while the rest of the video
    is still computed. Provisional: the spotting threshold is relative to the video seen
    so far, so the final intervals of these frames can differ."""

    upto_frame: int
    n_frames: int
    intervals: list[Interval]


PartialFn = Callable[[PartialSpotting], None]


#: Alignment of the model-free spotter's features: it is metst's own method (not the
#: authors'), chosen and checked on features with metst's improved alignment.
SPOTTER_ALIGNMENT = "improved"
#: ROI set of the model-free spotter: the 18 ME-TST+ ROIs (the lower eyelids tell blinks apart);
#: the earlier spotter's was the 5-ROI set, kept for ``--spotter legacy`` so that it runs as it did.
SPOTTER_ROIS = "metst_plus"
LEGACY_ROIS = "metst"


def spot_video(path: str | Path, *, checkpoint: str | Path | None = None, rois: str | None = None, window: int = 50,
               skip: int = 1, alignment: str | None = None, fps: float | None = None, fill_gaps: bool = False,
               baseline: BaselineParams | LegacyParams | None = None, options: InferenceOptions | None = None,
               use_cache: bool = True, cache_dir: str | Path | None = None, workers: int = 1,
               progress: ProgressFn | None = None, cancel: CancelFn | None = None,
               pool: ExtractionPool | None = None, on_partial: PartialFn | None = None) -> Spotting:
    """Extract features and spot intervals, writing nothing.

    Without ``checkpoint`` the model-free spotter (``baseline`` settings; ``LegacyParams``
    run the earlier spotter) runs on (rois, window, skip, alignment) features, ``rois`` None
    meaning ``SPOTTER_ROIS`` (``LEGACY_ROIS`` for the earlier spotter); with one, the checkpoint's ROI set, window and
    alignment are used and the skip is fitted to the video's fps (``options`` override the
    checkpoint's k', p, ...). ``alignment`` None: the spotter's own (``SPOTTER_ALIGNMENT``)
    or the checkpoint's; given with a checkpoint it overrides the checkpoint's.

    ``pool``: an ``ExtractionPool`` kept across videos (else ``workers`` processes for this
    one). ``on_partial`` gets provisional intervals of the first minutes while the rest is
    computed: the model-free spotter's after every chunk of windows, a checkpoint's each
    time the part seen has doubled (so that the partial runs cost at most one more run).
    """
    from .curves import curve_to_source_frames
    from .extraction import extract_video

    def extract(params: ExtractParams, partial: Callable[[FeatureSet], list[Interval]] | None = None,
                every_chunk: bool = True) -> FeatureSet:
        seen = [0]

        def on_chunk(chunk: FeatureChunk) -> None:
            if on_partial is not None and partial is not None and (
                    every_chunk or chunk.w1 >= 2 * seen[0] or chunk.w1 == chunk.n_windows):
                seen[0] = chunk.w1
                on_partial(PartialSpotting(chunk.so_far.n_frames, chunk.n_frames, partial(chunk.so_far)))

        feats = extract_video(path, params, fps=fps, fill_gaps=fill_gaps, use_cache=use_cache, cache_dir=cache_dir,
                              workers=workers, progress=progress, cancel=cancel, pool=pool,
                              on_chunk=on_chunk if on_partial is not None else None)
        _raise_if_cancelled(cancel)
        return feats

    if checkpoint is None:
        from .baseline import BaselineParams, baseline_curves, spot
        from .baseline_legacy import LegacyParams, legacy_curves, legacy_spot

        bp = baseline or BaselineParams()
        alignment = alignment or SPOTTER_ALIGNMENT
        rois = rois or (LEGACY_ROIS if isinstance(bp, LegacyParams) else SPOTTER_ROIS)
        legacy = isinstance(bp, LegacyParams)
        partial_spot = (lambda part: legacy_spot(part, bp)) if legacy else (lambda part: spot(part, bp))
        feats = extract(ExtractParams(rois=rois, window=window, skip=skip, alignment=alignment), partial_spot)
        if legacy:
            curves, intervals, spotter = legacy_curves(feats, bp), legacy_spot(feats, bp), LEGACY
        else:
            curves, intervals, spotter = baseline_curves(feats, bp), spot(feats, bp), EVIDENCE
        arrays = {"spot_score": curve_to_source_frames(curves.combined, feats.skip, feats.n_frames),
                  "spot_threshold": np.float32(curves.threshold), "predictor": np.array(BASELINE)}
        return Spotting(feats, intervals, arrays, BASELINE,
                        {"rois": rois, "window": window, "skip": skip, "alignment": alignment, "spotter": spotter,
                         "threshold": float(curves.threshold)})

    from .inference import InferenceOptions, extract_params_for, predict_features
    from .models import import_public_metst, load_checkpoint, read_checkpoint_meta
    from .video import open_video

    from .models.checkpoint import check_weights_fit

    opts = options or InferenceOptions()
    published = Path(checkpoint).suffix.lower() == ".pkl"   # the authors' weight file (never unpickled)
    if published:
        model, meta = import_public_metst(checkpoint)
        if meta.window is None:
            raise CheckpointError(checkpoint, "its folder name does not say which dataset the weights are for (window, "
                                              "skip): convert it with `metst import-weights FILE -o FILE.safetensors "
                                              "--authors-dataset casme3|samm_lv` and use that")
    else:
        meta = read_checkpoint_meta(checkpoint)
        check_weights_fit(meta, Path(checkpoint))       # a file that cannot load fails before the extraction
    with open_video(path, fps=fps, fill_gaps=fill_gaps) as v:
        video_fps = v.fps
    params = extract_params_for(meta, video_fps, checkpoint, force_fps=opts.force_fps)
    if alignment is not None:
        params = replace(params, alignment=alignment)
    if on_partial is None or published:
        feats = extract(params)
        if not published:
            model, meta = load_checkpoint(checkpoint, channels=feats.channel_names, window=feats.k,
                                          device=opts.device)
    else:   # the model is needed before the features are complete
        from .rois import load_roi_set

        model, meta = load_checkpoint(checkpoint, channels=load_roi_set(params.rois).channel_names,
                                      window=params.window, device=opts.device)
        feats = extract(params, lambda part: predict_features(model, meta, part, opts, checkpoint).intervals,
                        every_chunk=False)
    pred = predict_features(model, meta, feats, opts, checkpoint)
    arrays = {"spot_prob": pred.spot, "spot_threshold": np.float32(pred.threshold), "recog_prob": pred.recog,
              "class_names": np.array([*pred.class_names, "neutral"], dtype=np.str_),
              "predictor": np.array(str(checkpoint))}
    return Spotting(feats, pred.intervals, arrays, str(checkpoint),
                    {"checkpoint": str(checkpoint), "rois": params.rois, "window": params.window,
                     "alignment": params.alignment,
                     "skip": pred.skip, "k_prime": pred.k_prime, "threshold": float(pred.threshold)})


def analyze_video(path: str | Path, video: str, subject: str, out_dir: str | Path, *,
                  checkpoint: str | Path | None = None, rois: str | None = None, window: int = 50, skip: int = 1,
                  alignment: str | None = None, use_cache: bool = True, cache_dir: str | Path | None = None, workers: int = 1,
                  progress: ProgressFn | None = None, cancel: CancelFn | None = None,
                  device: str = "cpu", pool: ExtractionPool | None = None,
                  on_partial: PartialFn | None = None) -> AnalysisResult:
    """:func:`spot_video`, then write ``OUT_DIR/<video>.csv`` and ``<video>_curves.npz``.

    Raises ``metst_engine.errors.Cancelled`` when ``cancel()`` turns true.
    """
    from .atomic import ensure_dir
    from .inference import InferenceOptions
    from .intervals_io import write_predictions
    from .safe_paths import id_path

    csv_path = id_path(out_dir, video, ".csv", what="video id", source=path)
    npz_path = id_path(out_dir, video, "_curves.npz", what="video id", source=path)
    ensure_dir(out_dir)
    found = spot_video(path, checkpoint=checkpoint, rois=rois, window=window, skip=skip, alignment=alignment,
                       options=InferenceOptions(device=device), use_cache=use_cache, cache_dir=cache_dir,
                       workers=workers, progress=progress, cancel=cancel, pool=pool, on_partial=on_partial)
    save_curves(npz_path, found.feats, **found.curves)
    _raise_if_cancelled(cancel)
    write_predictions(csv_path, [(subject, video, iv) for iv in found.intervals])
    return AnalysisResult(video, csv_path, npz_path, found.intervals, found.predictor, found.params)


def _raise_if_cancelled(cancel: CancelFn | None) -> None:
    from .errors import Cancelled

    if cancel is not None and cancel():
        raise Cancelled("analysis cancelled")
