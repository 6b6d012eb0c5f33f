"""The curves file (``metst predict --curves``, a project's ``cache/curves/``): one video's per-frame arrays.

:class:`Curves` is the only code that writes or reads the format: a NumPy ``.npz`` with
``flow`` (n_frames, C) and ``channel_names``, ``n_frames``, ``fps``, optional ``face_box``
(median face crop, source px) and ``face_boxes`` (every window's crop, from which the face
proxy takes its stable crop, :mod:`.video.face_proxy`), the spotting curve as ``spot_score`` (model-free, noise
units) or ``spot_prob`` (a model's probability) with ``spot_threshold``, a model's
``recog_prob`` (n_frames, classes) with ``class_names``, ``predictor``, and the peaks above
the threshold that got no interval (``rejected_apex/_score/_reason/_by``, -1 = none;
absent from files written before they were recorded). Every array has length ``n_frames``
in source frame numbering, NaN where no window covers a frame.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_path
from .curves import stitched_flow
from .errors import InputError
from .features import FeatureSet
from .intervals import RejectedPeak


@dataclass
class Curves:
    """One video's per-frame curves (source frames)."""

    n_frames: int
    fps: float
    flow: np.ndarray | None = None                 #: (n_frames, C) stitched flow, channels ``<roi>_x/_y``
    channel_names: list[str] = field(default_factory=list)
    spotting: np.ndarray | None = None             #: (n_frames,) probability or model-free score
    threshold: float | None = None                 #: the spotting line
    probability: bool = False                      #: ``spotting`` is a model's probability (else a score)
    recognition: np.ndarray | None = None          #: (n_frames, n_classes)
    class_names: list[str] = field(default_factory=list)
    face_box: tuple[float, float, float, float] | None = None   #: median face crop (source px) for zoom
    face_boxes: np.ndarray | None = None           #: (windows, 4) every window's face crop (source px)
    predictor: str = ""                            #: "baseline" or the checkpoint path
    rejected: list[RejectedPeak] = field(default_factory=list)   #: peaks above the line without an interval

    @classmethod
    def of_features(cls, feats: FeatureSet, **fields: Any) -> Curves:
        """The features' stitched flow, channels, length, fps and face box, plus ``fields``."""
        box = tuple(float(v) for v in np.median(feats.crop_boxes, axis=0)) if feats.crop_boxes.size else None
        boxes = np.asarray(feats.crop_boxes, dtype=np.int64) if feats.crop_boxes.size else None
        return cls(n_frames=feats.n_frames, fps=feats.fps, flow=stitched_flow(feats),
                   channel_names=list(feats.channel_names), face_box=box, face_boxes=boxes,
                   **fields)  # type: ignore[arg-type]

    def validate(self) -> None:
        """``ValueError`` naming the first array that does not fit ``n_frames`` (or its names)."""
        n = self.n_frames
        if n < 0 or not np.isfinite(self.fps) or self.fps <= 0:
            raise ValueError(f"n_frames {n} / fps {self.fps} out of range")
        if self.flow is not None and self.flow.shape != (n, len(self.channel_names)):
            raise ValueError(f"flow is {self.flow.shape}, expected ({n}, {len(self.channel_names)} channel names)")
        if self.spotting is not None and self.spotting.shape != (n,):
            raise ValueError(f"the spotting curve is {self.spotting.shape}, expected ({n},)")
        if self.recognition is not None and (self.recognition.ndim != 2 or len(self.recognition) != n or (
                self.class_names and self.recognition.shape[1] != len(self.class_names))):
            raise ValueError(f"recognition is {self.recognition.shape}, expected ({n}, {len(self.class_names)})")
        if self.face_box is not None and len(self.face_box) != 4:
            raise ValueError("face_box needs 4 values")
        if self.face_boxes is not None and (self.face_boxes.ndim != 2 or self.face_boxes.shape[1] != 4):
            raise ValueError(f"face_boxes is {self.face_boxes.shape}, expected (windows, 4)")

    def save(self, path: str | Path) -> Path:
        """Write the file atomically (a reader never sees half of it)."""
        self.validate()
        arrays: dict[str, Any] = {"n_frames": np.int64(self.n_frames), "fps": np.float64(self.fps),
                                  "channel_names": np.array(self.channel_names, dtype=np.str_),
                                  "predictor": np.array(self.predictor)}
        optional = {"flow": self.flow, "recog_prob": self.recognition,
                    "spot_prob" if self.probability else "spot_score": self.spotting}
        arrays |= {k: v for k, v in optional.items() if v is not None}
        if self.threshold is not None:
            arrays["spot_threshold"] = np.float32(self.threshold)
        if self.class_names:
            arrays["class_names"] = np.array(self.class_names, dtype=np.str_)
        if self.face_box is not None:
            arrays["face_box"] = np.array(self.face_box, dtype=np.float64)
        if self.face_boxes is not None:
            arrays["face_boxes"] = np.asarray(self.face_boxes, dtype=np.int64)
        if self.rejected:
            arrays |= {"rejected_apex": np.array([r.apex for r in self.rejected], dtype=np.int64),
                       "rejected_score": np.array([r.score for r in self.rejected], dtype=np.float64),
                       "rejected_reason": np.array([r.reason for r in self.rejected], dtype=np.str_),
                       "rejected_by": np.array([-1 if r.by is None else r.by for r in self.rejected], dtype=np.int64)}
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Curves:
        """Read and check a curves file; a missing, damaged or foreign file is one :class:`InputError`."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                curves = cls._from_arrays({k: z[k] for k in z.files})
            curves.validate()
            return curves
        except FileNotFoundError:
            raise InputError(path, "curves file not found") from None
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            raise InputError(path, f"not a metst curves file ({exc}); run the analysis again to rewrite it") from None

    @classmethod
    def _from_arrays(cls, z: dict[str, np.ndarray]) -> Curves:
        probability = "spot_prob" in z
        names = [str(c) for c in z["channel_names"]] if "channel_names" in z else []
        rejected = []
        if "rejected_apex" in z:
            apex, score, reason, by = (z[f"rejected_{k}"] for k in ("apex", "score", "reason", "by"))
            if not len(apex) == len(score) == len(reason) == len(by):
                raise ValueError("the rejected peaks' arrays differ in length")
            rejected = [RejectedPeak(int(a), float(s), str(r), None if b < 0 else int(b))
                        for a, s, r, b in zip(apex, score, reason, by)]
        return cls(n_frames=int(z["n_frames"]), fps=float(z["fps"]), flow=z.get("flow"), channel_names=names,
                   spotting=z["spot_prob"] if probability else z.get("spot_score"),
                   threshold=float(z["spot_threshold"]) if "spot_threshold" in z else None,
                   probability=probability, recognition=z.get("recog_prob"),
                   class_names=[str(c) for c in z["class_names"]] if "class_names" in z else [],
                   face_box=tuple(float(v) for v in z["face_box"]) if "face_box" in z else None,  # type: ignore[arg-type]
                   face_boxes=z.get("face_boxes"),
                   predictor=str(z["predictor"]) if "predictor" in z else "", rejected=rejected)


__all__ = ["Curves"]
