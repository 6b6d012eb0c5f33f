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


def project_with(folder: Path, videos: dict[str, tuple[Path, str]], annotator: str = "alice"):
    """A new project at ``folder`` holding copies of ``videos`` (name -> (file, subject)) under ``videos/``."""
    import shutil

    from metst_engine.project import Project

    p = Project.create(folder, annotator=annotator)
    for name, (src, subject) in videos.items():
        dst = folder / "videos" / src.name
        dst.parent.mkdir(exist_ok=True)
        shutil.copy(src, dst)
        p.add_video(dst, subject, name)
    return p


def two_clips(root: Path) -> dict[str, Path]:
    """Videos "a" (60 frames) and "b" (50 frames) at 25 fps, files a.mp4 and bb.mp4."""
    return {"a": tiny_video(root / "a.mp4", n_frames=60), "b": tiny_video(root / "bb.mp4", n_frames=50)}
