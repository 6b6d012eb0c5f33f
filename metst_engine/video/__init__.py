"""Frame-accurate access to face videos: container files and image-frame folders.

Micro-expressions last 1/25 to 1/2 s, so an off-by-one frame is a wrong label. Every
reader here therefore treats the **integer frame index as the truth**: ``frame(i)``
returns exactly the i-th frame in presentation order, and times are derived from the
index (``timestamps[i]``), never the other way round.

Design, and why:

* Containers (mp4/avi/mov/mkv/...) are read with PyAV. At open we *demux* the video
  stream once without decoding (about 2.5 us per packet: an hour at 200 fps indexes in
  ~2 s plus the time to read the file) and sort
  the packet presentation timestamps, so frame ``i`` is the packet with the i-th
  smallest pts, including for B-frame and variable-frame-rate files. ``frame(i)`` seeks
  to a keyframe at or before frame ``i`` and decodes forward until a frame with
  ``pts == pts[i]`` comes out; a decoded frame is only ever accepted by its pts, so a
  demuxer that lands elsewhere costs time, not correctness (we step back one more
  keyframe and retry, finally decoding from the start). The decoder stays positioned
  after each read, so sequential access (i, i+1, ...) decodes one frame and never seeks:
  this is the hot path of feature extraction (short jumps forward also decode on rather
  than seek). OpenCV's ``CAP_PROP_POS_FRAMES`` is exact too, but cannot list the
  timestamps without decoding and reports failures only as ``read() == False``.
  Frame 0 is decoded at open (a file that does not decode fails at once) and the
  display rotation of phone videos is applied, as OpenCV and ffmpeg do. A truncated or
  corrupt file raises at open with ``usable_frames``; ``partial=True`` opens the usable
  leading frames instead (listed in ``problems``).
* Frame folders (CAS(ME)^3 ``1.jpg, 2.jpg, ...``, SAMM-LV ``006_1_00001.jpg``, any
  ``<prefix><number>.<ext>``) take the index from the file number (first file = index
  0), so a missing file cannot silently shift every later label; a gap is an error
  unless ``fill_gaps=True`` (a missing number is served by the next existing file, as
  the public ME-TST code does). Folders without a common numbered pattern are
  natural-sorted. The folder is listed once with ``os.scandir``; image sizes are checked
  lazily on read and fully by ``validate()``.
* A small LRU cache (``cache_size`` frames) serves a viewer stepping back and forth;
  ``iter_frames`` bypasses it. Returned arrays always belong to the caller.
* Every PyAV/OpenCV failure is turned into one :class:`~metst_engine.errors.VideoError`
  naming the file and the problem (with ``usable_frames`` when a prefix is usable).

Thread safety: use one ``VideoSource`` per thread (a decoder has a position). Calls on
one source are serialised by an internal lock, so sharing one is safe but not parallel.
"""

from __future__ import annotations

import os
from pathlib import Path

from metst_engine.errors import VideoError
from metst_engine.video.container import ContainerVideo
from metst_engine.video.fingerprint import video_fingerprint
from metst_engine.video.folder import FrameFolderVideo
from metst_engine.video.source import (
    DEFAULT_FPS,
    IMAGE_EXTENSIONS,
    FpsSource,
    Mode,
    VideoSource,
)

__all__ = [
    "DEFAULT_FPS",
    "IMAGE_EXTENSIONS",
    "ContainerVideo",
    "FpsSource",
    "FrameFolderVideo",
    "Mode",
    "VideoSource",
    "open_video",
    "video_fingerprint",
]


def open_video(path: str | os.PathLike[str], *, fps: float | None = None,
               fill_gaps: bool = False, partial: bool = False,
               cache_size: int = 8) -> VideoSource:
    """Open a video file (PyAV) or a frame folder; raise VideoError if it is unusable.

    ``fps``: the capture rate if known (datasets know it: 30 for CAS(ME)^3, 200 for
    SAMM-LV); it overrides the container header, and folders default to 30 with
    ``fps_declared == False``. ``fill_gaps`` (folders): serve a missing number with the
    next file instead of raising. ``partial`` (files): open a truncated file as its
    usable frames instead of raising.
    """
    p = Path(path)
    if p.is_dir():
        return FrameFolderVideo(p, fps=fps, fill_gaps=fill_gaps, cache_size=cache_size)
    if not p.exists():
        raise VideoError(p, "file or folder does not exist; check the path")
    if not p.is_file():     # a FIFO or device would block the decoder forever
        raise VideoError(p, "not a regular file (a pipe, socket or device); save the video to a file first")
    return ContainerVideo(p, fps=fps, partial=partial, cache_size=cache_size)
