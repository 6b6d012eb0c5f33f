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
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from metst_engine.atomic import atomic_path
from metst_engine.video.fingerprint import video_fingerprint
from metst_engine.video.source import VideoSource

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
    try:
        with atomic_path(dest) as tmp:
            _write_all_intra(video, tmp, (w, h), progress, should_stop)
    except _Stopped:
        return None      # atomic_path removed the partial file
    return dest


def _write_all_intra(video: VideoSource, path: Path, size: tuple[int, int],
                     progress: Callable[[int, int], object] | None,
                     should_stop: Callable[[], bool] | None) -> None:
    w, h = size
    out = av.open(str(path), mode="w", format="mp4")
    try:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"g": "1", "bf": "0", "preset": "ultrafast", "crf": "20"}
        for i, bgr in video.iter_frames():
            if should_stop is not None and should_stop():
                raise _Stopped
            small = bgr if (w, h) == video.size else cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(small), format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, 30)
            for pkt in stream.encode(frame):
                out.mux(pkt)
            if progress is not None and (i % 64 == 63 or i == video.n_frames - 1):
                progress(i + 1, video.n_frames)
        for pkt in stream.encode():
            out.mux(pkt)
    finally:
        out.close()


class _Stopped(Exception):
    """Raised inside the writer to abandon a proxy (the temporary file is removed)."""
