"""Helpers for the project-store tests: tiny real video files and a project holding them."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def tiny_video(path: Path, n_frames: int = 40, fps: float = 25.0, size: int = 32) -> Path:
    """A small H.264 file whose frames differ (so the content hash depends on the seed-free content)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        s.width = s.height = size
        s.pix_fmt = "yuv420p"
        s.options = {"preset": "ultrafast", "threads": "1"}
        for t in range(n_frames):
            img = np.full((size, size, 3), (t * 5) % 255, dtype=np.uint8)
            img[: size // 2, : size // 2] = (len(path.name) * 37) % 255
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts = t
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path
