"""The per-frame arrays the timeline shows, read from ``metst predict --curves`` files or features.

A plain container, so the timeline takes arrays and never opens files; every array has
length ``n_frames`` in source frame numbering (NaN where no window covers a frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from metst_engine.errors import InputError
from metst_engine.features import FeatureSet


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

    @classmethod
    def load(cls, path: str | Path) -> CurveData:
        """Read a ``metst predict --curves`` .npz (model: spot_prob/recog_prob; model-free: spot_score)."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                spot = z["spot_prob"] if "spot_prob" in z else z.get("spot_score")
                return cls(n_frames=int(z["n_frames"]), fps=float(z["fps"]), flow=z.get("flow"),
                           channel_names=[str(c) for c in z["channel_names"]] if "channel_names" in z else [],
                           spotting=spot,
                           threshold=float(z["spot_threshold"]) if "spot_threshold" in z else None,
                           recognition=z.get("recog_prob"),
                           class_names=[str(c) for c in z["class_names"]] if "class_names" in z else [],
                           face_box=tuple(float(v) for v in z["face_box"]) if "face_box" in z else None)
        except FileNotFoundError:
            raise InputError(path, "curves file not found") from None
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(path, f"not a metst curves file ({exc})") from None

    @classmethod
    def from_features(cls, feats: FeatureSet, with_baseline: bool = True) -> CurveData:
        """Flow stitched per frame, plus the model-free spotter's score and threshold when asked."""
        from metst_engine.curves import curve_to_source_frames, stitched_flow

        data = cls(n_frames=feats.n_frames, fps=feats.fps, flow=stitched_flow(feats),
                   channel_names=list(feats.channel_names))
        if with_baseline:
            from metst_engine.baseline import baseline_curves

            curves = baseline_curves(feats)
            data.spotting = curve_to_source_frames(curves.combined, feats.skip, feats.n_frames)
            data.threshold = float(curves.threshold)
        return data
