"""All-intra preview proxies of long-GOP videos, for instant scrubbing (as video editors do).

A random seek in an H.264 file with a keyframe every 60 frames decodes up to 59 frames
before the wanted one: ~230 ms p50 at 1080p on 2 cores (``bench/gui_bench.py``). A proxy
re-encodes every frame as its own keyframe at reduced size (long side <= 960 px), so any
frame decodes alone in ~7 ms. The proxy is lossy: a viewer shows it only as a preview
while the exact frame (``VideoSource.frame``) is decoded, then replaces it.

Proxy frame i is source frame i (written in index order with pts = i), so the proxy is
read with :func:`open_video` like any other file. Files live in the user cache folder
(``$METST_CACHE_DIR/proxies``) under the source's content fingerprint and are written
atomically, so a half-built proxy is never used.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import cv2

from metst_engine.atomic import atomic_path
from metst_engine.video.fingerprint import video_fingerprint
from metst_engine.video.source import VideoSource
from metst_engine.video.writer import Stopped, reported, write_video

PROXY_MAX_SIDE = 960
PROXY_VERSION = 1      # bump when the proxy format changes, so old files are not reused


def default_proxy_dir() -> Path:
    """``<user cache dir>/metst/proxies`` (overridable with METST_CACHE_DIR)."""
    env = os.environ.get("METST_CACHE_DIR")
    if env:
        return Path(env) / "proxies"
    import platformdirs

    return Path(platformdirs.user_cache_dir("metst")) / "proxies"


def proxy_path(video_path: str | os.PathLike[str], proxy_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the proxy of ``video_path`` lives (keyed by its content, not its name)."""
    key = video_fingerprint(video_path)
    return Path(proxy_dir or default_proxy_dir()) / f"{key}-v{PROXY_VERSION}-{PROXY_MAX_SIDE}.mp4"


def proxy_size(width: int, height: int, max_side: int = PROXY_MAX_SIDE) -> tuple[int, int]:
    """Even (width, height) with the long side at most ``max_side`` (never upscaled)."""
    scale = min(1.0, max_side / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def build_proxy(video: VideoSource, dest: str | os.PathLike[str], *, max_side: int = PROXY_MAX_SIDE,
                progress: Callable[[int, int], object] | None = None,
                should_stop: Callable[[], bool] | None = None) -> Path | None:
    """Write an all-intra H.264 proxy of ``video`` to ``dest``; None if stopped early.

    ``video`` is read sequentially with ``iter_frames`` (its decoder position changes, so
    pass a source no other thread uses). ``progress(done, total)`` every 64 frames.
    """
    dest = Path(dest)
    w, h = proxy_size(*video.size, max_side=max_side)
    frames = (bgr if (w, h) == video.size else cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA)
              for bgr in reported(video.iter_frames(), video.n_frames, progress, should_stop))
    try:
        with atomic_path(dest) as tmp:
            write_video(tmp, frames, size=(w, h), options={"g": "1", "bf": "0", "preset": "ultrafast", "crf": "20"},
                        container="mp4")
    except Stopped:
        return None      # atomic_path removed the partial file
    return dest
