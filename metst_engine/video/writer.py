"""Writing frames to a video file with PyAV: the one encoder loop of the package.

Synthetic videos, proxies, face proxies, test and benchmark videos are all written here:
frame ``i`` of the iterable gets pts ``i`` in a time base of ``1 / rate``, and the encoder is
flushed at the end. Reading frames back is :mod:`metst_engine.video.container`'s job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


class Stopped(Exception):
    """Raised inside a writer to abandon the file (``should_stop()`` said so)."""


def write_video(path: str | Path, frames: Iterable[np.ndarray], *, size: tuple[int, int],
                rate: float | Fraction = 30, codec: str = "libx264", pix_fmt: str = "yuv420p",
                options: Mapping[str, str] | None = None, container: str | None = None) -> Path:
    """Encode BGR uint8 ``frames`` (height x width x 3, ``size`` = (width, height)) into ``path``.

    ``rate``: frames per second (a float is written as the nearest fraction with a
    denominator up to 1001, so 29.97 becomes 30000/1001); ``options``: the encoder's
    (``{"crf": "20", "g": "1"}``); ``container``: the format when the suffix does not say it.
    """
    path = Path(path)
    rate = Fraction(rate).limit_denominator(1001)
    with av.open(str(path), mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], pix_fmt
        stream.options = dict(options or {})
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="bgr24")
            frame.pts, frame.time_base = i, 1 / rate
            for pkt in stream.encode(frame):
                out.mux(pkt)
        for pkt in stream.encode():
            out.mux(pkt)
    return path


def reported(frames: Iterable[tuple[int, np.ndarray]], total: int,
             progress: Callable[[int, int], object] | None = None,
             should_stop: Callable[[], bool] | None = None) -> Iterator[np.ndarray]:
    """The images of ``(index, image)`` pairs, for :func:`write_video` to encode.

    ``should_stop()`` is polled before each frame (True raises :class:`Stopped`);
    ``progress(done, total)`` is called once every 64 frames and after the last.
    """
    for i, img in frames:
        if should_stop is not None and should_stop():
            raise Stopped
        yield img
        if progress is not None and (i % 64 == 63 or i == total - 1):
            progress(i + 1, total)
