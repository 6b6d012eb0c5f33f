"""The per-frame arrays the timeline shows, adapted from the engine's :class:`~metst_engine.curves_file.Curves`.

A plain container, so the timeline takes arrays and never opens files; every array has
length ``n_frames`` in source frame numbering (NaN where no window covers a frame). The
curves file itself is read (and checked) by ``Curves.load``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from metst_engine.curves_file import Curves
from metst_engine.features import FeatureSet
from metst_engine.intervals import RejectedPeak


@dataclass
class CurveData:
    n_frames: int
    fps: float
    flow: np.ndarray | None = None                 #: (n_frames, C) stitched flow, channels ``<roi>_x/_y``
    channel_names: list[str] = field(default_factory=list)
    spotting: np.ndarray | None = None             #: (n_frames,) probability or model-free score
    threshold: float | None = None
    recognition: np.ndarray | None = None          #: (n_frames, n_classes)
    class_names: list[str] = field(default_factory=list)
    face_box: tuple[float, float, float, float] | None = None   #: median face crop (source px) for zoom
    rejected: list[RejectedPeak] = field(default_factory=list)   #: peaks above the line without a proposal, and why

    @classmethod
    def from_curves(cls, curves: Curves) -> CurveData:
        return cls(n_frames=curves.n_frames, fps=curves.fps, flow=curves.flow, channel_names=list(curves.channel_names),
                   spotting=curves.spotting, threshold=curves.threshold, recognition=curves.recognition,
                   class_names=list(curves.class_names), face_box=curves.face_box, rejected=list(curves.rejected))

    @classmethod
    def load(cls, path: str | Path) -> CurveData:
        """A curves file's arrays (``Curves.load``: a missing or foreign file is an ``InputError``)."""
        return cls.from_curves(Curves.load(path))

    @classmethod
    def from_features(cls, feats: FeatureSet, with_baseline: bool = True) -> CurveData:
        """Flow stitched per frame, plus the model-free spotter's score, threshold and left-out peaks when asked."""
        if with_baseline:
            from metst_engine.spotting import BaselineSpotter

            return cls.from_curves(BaselineSpotter().spot(feats).curves)
        return cls.from_curves(Curves.of_features(feats))
