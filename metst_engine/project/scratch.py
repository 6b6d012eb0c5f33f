"""A project of its own for one video (``metst-gui VIDEO``): kept in the user's data folder and reused.

Opening a video on its own should still give the review workspace (curves, proposals,
undo, export), so the video gets a small project under ``<user data>/metst/videos/``
(``platformdirs``; ``$XDG_DATA_HOME`` on Linux), named after the video and keyed by its
absolute path: opening the same file again finds its reviews.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import platformdirs

from metst_engine.errors import InputError
from metst_engine.project.core import DB_NAME
from metst_engine.project.store import Project
from metst_engine.project.videos import videos_to_add
from metst_engine.safe_paths import id_problem


def scratch_root() -> Path:
    """Where the single-video projects live."""
    return Path(platformdirs.user_data_dir("metst", appauthor=False)) / "videos"


def scratch_folder(video: str | Path, root: Path | None = None) -> Path:
    """The project folder kept for this video: ``<stem>-<10 hex digits of its absolute path>``."""
    real = os.path.abspath(video)
    key = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    stem = Path(real).stem if Path(real).is_file() or Path(real).suffix else Path(real).name
    stem = stem if id_problem(stem) is None else "video"
    return (root or scratch_root()) / f"{stem[:80]}-{key}"


def ensure_scratch_project(video: str | Path, *, fps: float | None = None, annotator: str | None = None,
                           root: Path | None = None) -> Path:
    """The video's own project folder, created (and the video added) when it does not exist yet.

    A video that cannot be read leaves no project behind."""
    video = Path(video)
    if not video.exists():
        raise InputError(video, "file or folder not found")
    (entry,) = videos_to_add([video])[:1] or (None,)
    if entry is None or (video.is_dir() and entry.path != Path(os.path.abspath(video))):
        raise InputError(video, "not a video or a folder of frames (for a folder of videos: create a project "
                                "and add them)")
    folder = scratch_folder(video, root)
    created = not (folder / DB_NAME).is_file()
    project = Project.create(folder, annotator=annotator) if created else Project.open(folder, annotator=annotator)
    try:
        with project:
            if not project.videos() and not project.read_only:
                project.add_video(entry.path, entry.subject, entry.video_id, fps=fps)
    except BaseException:
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder
