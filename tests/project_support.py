"""Helpers for the project-store tests: tiny real video files, a project holding them, the demo project."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest


def tiny_video(path: Path, n_frames: int = 40, fps: float = 25.0, size: int = 32) -> Path:
    """A small H.264 file whose frames differ (so the content hash depends on the seed-free content)."""
    from metst_engine.video.writer import write_video

    def frames():
        for t in range(n_frames):
            img = np.full((size, size, 3), (t * 5) % 255, dtype=np.uint8)
            img[: size // 2, : size // 2] = (len(path.name) * 37) % 255
            yield img

    path.parent.mkdir(parents=True, exist_ok=True)
    return write_video(path, frames(), size=(size, size), rate=fps, options={"preset": "ultrafast", "threads": "1"})


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


def predicted_project(folder: Path, clips: dict[str, Path], first_emotion: str = ""):
    """A project at ``folder`` / "proj" with ``clips`` (subject S1) and four imported predictions: on "a"
    5-8-12 (emotion ``first_emotion``), 20-24-30 and 40-45 (no apex), on "b" 10-15."""
    p = project_with(folder / "proj", {name: (src, "S1") for name, src in clips.items()})
    csv = folder / "pred.csv"
    csv.write_text("subject,video,onset,apex,offset,emotion,score\n"
                   f"S1,a,5,8,12,{first_emotion},0.9\nS1,a,20,24,30,,0.8\nS1,a,40,,45,,0.7\nS1,b,10,,15,,0.6\n",
                   encoding="utf-8")
    p.import_predictions(csv)
    return p


@contextmanager
def demo_project(tmp_path_factory, **kwargs) -> Iterator[Path]:
    """The GUI's demo project built in a temporary folder (``kwargs``: ``ensure_demo_project``'s), with its
    own feature cache (``METST_CACHE_DIR``) while the context lasts."""
    from metst_gui.project.demo_project import ensure_demo_project

    with pytest.MonkeyPatch.context() as env:
        env.setenv("METST_CACHE_DIR", str(tmp_path_factory.mktemp("feature-cache")))
        yield ensure_demo_project(tmp_path_factory.mktemp("demo") / "project", **kwargs)
