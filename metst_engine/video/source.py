"""The ``VideoSource`` interface shared by container files and frame folders."""

from __future__ import annotations

import math
import operator
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from metst_engine.errors import VideoError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
DEFAULT_FPS = 30.0

Mode = Literal["bgr", "gray"]
FpsSource = Literal["caller", "container", "measured", "default"]


def _check_fps(fps: float | None, path: object = None) -> float | None:
    if fps is None:
        return None
    fps = float(fps)
    if not math.isfinite(fps) or not 0 < fps <= 100_000:
        raise VideoError(path, f"fps must be a positive number, got {fps!r}; give the capture rate, e.g. --fps 30")
    return fps


def _check_mode(mode: str) -> None:
    if mode not in ("bgr", "gray"):
        raise ValueError(f"mode must be 'bgr' or 'gray', got {mode!r}")


def _to_gray(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)


class VideoSource(ABC):
    """A sequence of frames addressed by integer index; see the module docstring.

    Properties: ``path``, ``n_frames`` (also ``len()``), ``fps``, ``fps_source``,
    ``fps_declared``, ``fps_measured``, ``timestamps`` (seconds, float64, read-only,
    ``timestamps[0] == 0``), ``size`` (width, height), ``problems`` (non-fatal notes).
    """

    def __init__(self, path: Path, cache_size: int) -> None:
        self.path = path
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = max(0, int(cache_size))
        self._lock = threading.RLock()
        self._closed = False
        self.problems: tuple[str, ...] = ()   # data problems accepted with partial=True
        self.notes: tuple[str, ...] = ()      # informational (e.g. gaps filled on request)
        # Filled in by subclasses.
        self.n_frames = 0
        self.fps = DEFAULT_FPS
        self.fps_source: FpsSource = "default"
        self._timestamps = np.zeros(0)
        self._size = (0, 0)

    # -- properties ------------------------------------------------------------------
    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of every frame."""
        return self._size

    @property
    def timestamps(self) -> np.ndarray:
        """Time of each frame in seconds from the first frame (float64, read-only)."""
        return self._timestamps

    @property
    def fps_declared(self) -> bool:
        """True when ``fps`` comes from the caller or the file, not a guess."""
        return self.fps_source in ("caller", "container")

    @property
    def fps_measured(self) -> float | None:
        """Mean frame rate from the timestamps ((n-1)/span); None for < 2 frames."""
        if self.n_frames < 2 or self._timestamps[-1] <= 0:
            return None
        return float((self.n_frames - 1) / self._timestamps[-1])

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return self.n_frames

    def __repr__(self) -> str:
        w, h = self._size
        return (f"{type(self).__name__}({str(self.path)!r}, n_frames={self.n_frames}, "
                f"fps={self.fps:g} ({self.fps_source}), size={w}x{h})")

    # -- frame access ----------------------------------------------------------------
    def frame(self, i: int) -> np.ndarray:
        """The i-th frame as BGR uint8 (H, W, 3); a fresh array the caller owns."""
        return self.read(i, "bgr")

    def gray(self, i: int) -> np.ndarray:
        """The i-th frame as gray uint8 (H, W), ``cv2.cvtColor(frame(i), BGR2GRAY)``."""
        return self.read(i, "gray")

    def read(self, i: int, mode: Mode = "bgr") -> np.ndarray:
        """The i-th frame in ``mode`` ('bgr' or 'gray'); IndexError outside [0, n_frames)."""
        _check_mode(mode)
        i = self._check_index(i)
        with self._lock:
            self._check_open()
            img = self._cache.get(i)
            if img is not None:
                self._cache.move_to_end(i)
            else:
                img = self._read_bgr(i)
                if self._cache_size:
                    self._cache[i] = img
                    while len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
            return _to_gray(img) if mode == "gray" else img.copy()

    def iter_frames(self, start: int = 0, stop: int | None = None, step: int = 1,
                    *, mode: Mode = "bgr") -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(i, frame)`` for ``range(start, stop, step)``, decoding sequentially.

        Bypasses the cache, so a long scan does not evict frames a viewer is using.
        """
        _check_mode(mode)
        if step < 1:
            raise ValueError(f"step must be >= 1, got {step}")
        stop = self.n_frames if stop is None else min(int(stop), self.n_frames)
        for i in range(int(start), stop, int(step)):
            i = self._check_index(i)
            with self._lock:
                self._check_open()
                img = self._cache.get(i)
                img = img.copy() if img is not None else self._read_bgr(i)
            yield i, (_to_gray(img) if mode == "gray" else img)

    def __iter__(self) -> Iterator[np.ndarray]:
        for _, img in self.iter_frames():
            yield img

    def time_of(self, i: int) -> float:
        """Seconds from the first frame to frame i."""
        return float(self._timestamps[self._check_index(i)])

    def index_at(self, t: float) -> int:
        """The frame on screen at time t (last frame with timestamp <= t), clipped."""
        k = int(np.searchsorted(self._timestamps, t, side="right")) - 1
        return min(max(k, 0), self.n_frames - 1)

    def validate(self, progress: Callable[[int, int], object] | None = None) -> int:
        """Decode every frame; return ``n_frames`` or raise VideoError with ``usable_frames``.

        ``usable_frames`` counts the leading frames that decode. Problems noted at open
        (e.g. a truncated file opened with ``partial=True``) also make this raise.
        ``progress(done, total)`` is called every 256 frames.
        """
        with self._lock:
            self._check_open()
            self._validate_all(progress)
            if self.problems:
                raise VideoError(self.path, "; ".join(self.problems), usable_frames=self.n_frames)
            return self.n_frames

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        """Release the file handles; further reads raise VideoError."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._cache.clear()
                self._close()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finalizer
            pass

    # -- helpers ---------------------------------------------------------------------
    def _check_index(self, i: int) -> int:
        i = operator.index(i)
        if not 0 <= i < self.n_frames:
            raise IndexError(f"frame {i} out of range: {self.path} has {self.n_frames} frames")
        return i

    def _check_open(self) -> None:
        if self._closed:
            raise VideoError(self.path, "video is closed")

    def _set_fps(self, caller_fps: float | None, file_fps: float | None,
                 measured: float | None) -> None:
        if caller_fps is not None:
            self.fps, self.fps_source = caller_fps, "caller"
        elif file_fps is not None:
            self.fps, self.fps_source = file_fps, "container"
        elif measured is not None:
            self.fps, self.fps_source = measured, "measured"
        else:
            self.fps, self.fps_source = DEFAULT_FPS, "default"

    def _validate_all(self, progress: Callable[[int, int], object] | None) -> None:
        for i in range(self.n_frames):
            try:
                self._read_bgr(i, convert=False)
            except VideoError as e:
                raise VideoError(e.path, e.problem, usable_frames=i) from e
            if progress is not None and (i % 256 == 255 or i == self.n_frames - 1):
                progress(i + 1, self.n_frames)

    @abstractmethod
    def _read_bgr(self, i: int, convert: bool = True) -> np.ndarray | None:
        """Decode frame i (BGR, owned by the caller); with convert=False only check it."""

    @abstractmethod
    def _close(self) -> None: ...
