"""Synthetic facial motion with known ground truth: local warps and expression profiles.

Used by tests (known motion in, measured motion out), by the bundled demo video and by
benchmarks. Warps are smooth displacement fields applied with ``cv2.remap``; a
displacement is in source pixels and is exact inside the warp's plateau.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def expression_profile(n_frames: int, onset: int, apex: int, offset: int) -> np.ndarray:
    """Amplitude per frame: 0 before onset, raised-cosine rise to 1 at apex, fall to 0 at offset."""
    t = np.arange(n_frames, dtype=np.float64)
    a = np.zeros(n_frames)
    rise = (t >= onset) & (t <= apex)
    fall = (t > apex) & (t <= offset)
    if apex > onset:
        a[rise] = 0.5 - 0.5 * np.cos(np.pi * (t[rise] - onset) / (apex - onset))
    else:
        a[t == apex] = 1.0
    if offset > apex:
        a[fall] = 0.5 + 0.5 * np.cos(np.pi * (t[fall] - apex) / (offset - apex))
    return a


@dataclass(frozen=True)
class LocalWarp:
    """A displacement (dx, dy) applied fully inside an ellipse and fading to 0 around it.

    ``center`` and ``radii`` in source pixels; the weight is 1 for normalised radius <= 1
    and falls with a raised cosine to 0 at normalised radius ``1 + falloff``.
    """

    center: tuple[float, float]
    radii: tuple[float, float]
    displacement: tuple[float, float]
    falloff: float = 1.0

    def weight(self, shape: tuple[int, int]) -> np.ndarray:
        h, w = shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r = np.sqrt(((xx - self.center[0]) / self.radii[0]) ** 2 + ((yy - self.center[1]) / self.radii[1]) ** 2)
        wgt = np.clip((r - 1.0) / self.falloff, 0.0, 1.0)
        return (0.5 + 0.5 * np.cos(np.pi * wgt)).astype(np.float32)


def apply_warps(image: np.ndarray, warps: list[tuple[LocalWarp, float]], translation: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Warp ``image`` by the sum of ``(warp, amplitude)`` fields plus a global translation.

    The field moves content by +displacement (backward mapping: out(x) = in(x - d(x)),
    exact where d is locally constant).
    """
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx = np.full((h, w), translation[0], dtype=np.float32)
    dy = np.full((h, w), translation[1], dtype=np.float32)
    for warp, amp in warps:
        if amp == 0:
            continue
        wgt = warp.weight((h, w)) * np.float32(amp)
        dx += wgt * np.float32(warp.displacement[0])
        dy += wgt * np.float32(warp.displacement[1])
    return cv2.remap(image, xx - dx, yy - dy, interpolation=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
