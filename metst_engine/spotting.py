"""Spotters: features in, intervals, curves and the reasons for the peaks left out.

A :class:`Spotter` says which features it needs for a video (:meth:`Spotter.extract_params`)
and turns them into a :class:`SpottingResult` (:meth:`Spotter.spot`). Two kinds:

* :class:`BaselineSpotter`: the model-free spotter (:mod:`.baseline`; ``LegacyParams`` run the
  earlier one, :mod:`.baseline_legacy`), features of its catalog entry
  (:data:`~metst_engine.model_catalog.SPOTTER_CATALOG`: ROI set, alignment, window);
* :class:`CheckpointSpotter`: a trained checkpoint (or the authors' ``.pkl`` weights), loaded
  once; the checkpoint's ROI set, alignment and window, the skip fitted to the video's fps.

Frames in a result are source frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .alignment import LEGACY_ALIGNMENT
from .baseline import BaselineParams, baseline_spotting
from .baseline_legacy import LegacyParams, legacy_curves, legacy_spot
from .curves import curve_to_source_frames
from .curves_file import Curves
from .errors import CheckpointError
from .features import ExtractParams, FeatureSet
from .intervals import Interval, RejectedPeak
from .model_catalog import DEFAULT_SPOTTER, SPOTTER_CATALOG

if TYPE_CHECKING:   # torch comes with inference: imported when a checkpoint is used, not at GUI start
    from .inference import InferenceOptions

#: The predictor name of the model-free spotters' runs and curves (a checkpoint's is its path).
BASELINE = "baseline"


@dataclass(frozen=True)
class SpottingResult:
    """One video's intervals (source frames), curves, threshold and the peaks above it left out."""

    intervals: list[Interval]
    curves: Curves
    threshold: float
    rejected: list[RejectedPeak] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)     #: what made them (a prediction run's parameters)


@runtime_checkable
class Spotter(Protocol):
    """Features in, a :class:`SpottingResult` out."""

    #: Recorded as the run's predictor: "baseline" or the checkpoint path.
    predictor: str
    #: Partial results after every chunk of windows (else each time the part seen has doubled).
    partial_every_chunk: bool
    #: ``extract_params`` needs the video's fps (the caller then opens the video first).
    needs_fps: bool

    def extract_params(self, video_fps: float | None = None) -> ExtractParams:
        """The features to extract for a video of ``video_fps``."""
        ...

    def spot(self, feats: FeatureSet) -> SpottingResult:
        """Spot one video's features."""
        ...


class BaselineSpotter:
    """The model-free spotter; ``rois``/``window``/``alignment`` None: its catalog entry's."""

    predictor = BASELINE
    partial_every_chunk = True
    needs_fps = False

    def __init__(self, params: BaselineParams | LegacyParams | None = None, *, rois: str | None = None,
                 window: int | None = None, skip: int = 1, alignment: str | None = None) -> None:
        self.params = params or BaselineParams()
        self.name = "legacy" if isinstance(self.params, LegacyParams) else DEFAULT_SPOTTER
        info = SPOTTER_CATALOG[self.name]
        self.features = ExtractParams(rois=rois or info.rois, window=window or info.window, skip=skip,
                                      alignment=alignment or info.alignment)

    def extract_params(self, video_fps: float | None = None) -> ExtractParams:
        return self.features

    def spot(self, feats: FeatureSet) -> SpottingResult:
        if isinstance(self.params, LegacyParams):
            legacy = legacy_curves(feats, self.params)
            combined, threshold = legacy.combined, legacy.threshold
            intervals, rejected = legacy_spot(feats, self.params), []
        else:
            evidence, intervals, rejected = baseline_spotting(feats, self.params)
            combined, threshold = evidence.combined, evidence.threshold
        curves = Curves.of_features(feats, spotting=curve_to_source_frames(combined, feats.skip, feats.n_frames),
                                    threshold=float(threshold), predictor=BASELINE, rejected=rejected)
        f = self.features
        return SpottingResult(intervals, curves, float(threshold), rejected,
                              {"rois": f.rois, "window": f.window, "skip": f.skip, "alignment": f.alignment,
                               "spotter": self.name, "threshold": float(threshold)})


class CheckpointSpotter:
    """A checkpoint, loaded once; ``alignment`` overrides the checkpoint's, ``options`` its k', p, ..."""

    partial_every_chunk = False
    needs_fps = True

    def __init__(self, checkpoint: str | Path, options: InferenceOptions | None = None, *,
                 alignment: str | None = None) -> None:
        from .inference import InferenceOptions
        from .models import import_public_metst, load_checkpoint, read_checkpoint_meta
        from .rois import load_roi_set

        self.checkpoint = Path(checkpoint)
        self.predictor = str(checkpoint)
        self.options = options or InferenceOptions()
        self.alignment = alignment
        if self.checkpoint.suffix.lower() == ".pkl":     # the authors' weight file (never unpickled)
            self.model, self.meta = import_public_metst(self.checkpoint)
            if self.meta.window is None:
                raise CheckpointError(checkpoint, "its folder name does not say which dataset the weights are for "
                                                  "(window, skip): convert it with `metst import-weights FILE -o "
                                                  "FILE.safetensors --authors-dataset casme3|samm_lv` and use that")
        else:
            meta = read_checkpoint_meta(self.checkpoint)
            if not meta.roi_set or not meta.window:
                raise CheckpointError(checkpoint, "does not say which ROI set and window it was trained on")
            self.model, self.meta = load_checkpoint(self.checkpoint, channels=load_roi_set(meta.roi_set).channel_names,
                                                    window=meta.window, device=self.options.device)

    def extract_params(self, video_fps: float | None = None) -> ExtractParams:
        from .inference import extract_params_for

        if video_fps is None:
            raise ValueError("a checkpoint's features need the video's fps")
        params = extract_params_for(self.meta, video_fps, self.checkpoint, force_fps=self.options.force_fps)
        return params if self.alignment is None else replace(params, alignment=self.alignment)

    def spot(self, feats: FeatureSet) -> SpottingResult:
        from .inference import predict_features

        pred = predict_features(self.model, self.meta, feats, self.options, self.checkpoint)
        curves = Curves.of_features(feats, spotting=pred.spot, threshold=float(pred.threshold), probability=True,
                                    recognition=pred.recog, class_names=[*pred.class_names, "neutral"],
                                    predictor=self.predictor, rejected=pred.rejected)
        return SpottingResult(pred.intervals, curves, float(pred.threshold), pred.rejected,
                              {"checkpoint": self.predictor, "rois": self.meta.roi_set, "window": int(self.meta.window),
                               "alignment": self.alignment or self.meta.alignment or LEGACY_ALIGNMENT,
                               "skip": pred.skip, "k_prime": pred.k_prime, "threshold": float(pred.threshold)})


def make_spotter(checkpoint: str | Path | None = None, *, alignment: str | None = None,
                 options: InferenceOptions | None = None, params: BaselineParams | LegacyParams | None = None,
                 rois: str | None = None, window: int | None = None, skip: int = 1) -> Spotter:
    """A :class:`CheckpointSpotter` for ``checkpoint``, else a :class:`BaselineSpotter` (``params``, features)."""
    if checkpoint is not None:
        return CheckpointSpotter(checkpoint, options, alignment=alignment)
    return BaselineSpotter(params, rois=rois, window=window, skip=skip, alignment=alignment)


__all__ = ["BASELINE", "BaselineSpotter", "CheckpointSpotter", "Spotter", "SpottingResult", "make_spotter"]
