"""Frame-accurate access to face videos: container files and image-frame folders.

Micro-expressions last 1/25 to 1/2 s, so an off-by-one frame is a wrong label. Every
reader here therefore treats the **integer frame index as the truth**: ``frame(i)``
returns exactly the i-th frame in presentation order, and times are derived from the
index (``timestamps[i]``), never the other way round.

Design, and why:

* Containers (mp4/avi/mov/mkv/...) are read with PyAV. At open we *demux* the video
  stream once without decoding (fast: about a million packets per few seconds) and sort
  the packet presentation timestamps, so frame ``i`` is the packet with the i-th
  smallest pts, including for B-frame and variable-frame-rate files. ``frame(i)`` seeks
  to a keyframe at or before frame ``i`` and decodes forward until a frame with
  ``pts == pts[i]`` comes out; a decoded frame is only ever accepted by its pts, so a
  demuxer that lands elsewhere costs time, not correctness (we step back one more
  keyframe and retry, finally decoding from the start). The decoder stays positioned
  after each read, so sequential access (i, i+1, ...) decodes one frame and never seeks:
  this is the hot path of feature extraction. OpenCV's ``CAP_PROP_POS_FRAMES`` is exact
  too, but gives no per-frame timestamps for VFR input and no error detail.
* Frame folders (CAS(ME)^3 ``1.jpg, 2.jpg, ...``, SAMM-LV ``006_1_00001.jpg``, any
  ``<prefix><number>.<ext>``) take the index from the file number (first file = index
  0), so a missing file cannot silently shift every later label; a gap is an error
  unless ``fill_gaps=True`` (a missing number is served by the next existing file, as
  the public ME-TST code does). Folders without a common numbered pattern are
  natural-sorted. The folder is listed once with ``os.scandir``; image sizes are checked
  lazily on read and fully by ``validate()``.
* Every PyAV/OpenCV failure is turned into one :class:`~metst_engine.errors.VideoError`
  naming the file and the problem (with ``usable_frames`` when a prefix is usable).

Thread safety: use one ``VideoSource`` per thread (a decoder has a position). Calls on
one source are serialised by an internal lock, so sharing one is safe but not parallel.
"""

from __future__ import annotations

import math
import os
import re
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import cv2
import numpy as np

from metst_engine.errors import VideoError

__all__ = [
    "IMAGE_EXTENSIONS",
    "ContainerVideo",
    "FrameFolderVideo",
    "FpsSource",
    "Mode",
    "VideoSource",
    "open_video",
]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
DEFAULT_FPS = 30.0

Mode = Literal["bgr", "gray"]
FpsSource = Literal["caller", "container", "measured", "default"]


def _check_fps(fps: float | None) -> float | None:
    if fps is None:
        return None
    fps = float(fps)
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return fps


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
        import operator
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


# ======================================================================================
# Container files (PyAV)
# ======================================================================================

def _av_problem(e: BaseException) -> str:
    msg = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return f"{msg} ({type(e).__name__})"


class ContainerVideo(VideoSource):
    """A video file read with PyAV; frame i = i-th smallest packet pts (see module doc).

    ``partial=True`` opens a truncated/corrupt file as its usable leading frames (noted
    in ``problems``) instead of raising. ``stream_timestamps`` are the file's own times;
    ``timestamps`` equal them unless the caller gave ``fps`` (then ``i / fps``, because
    the caller knows the capture rate better than a re-encoded container header).
    """

    _MAX_SEEK_TRIES = 3
    _SEEK_COST_FRAMES = 16  # a seek + decoder refill costs about this many decoded frames

    def __init__(self, path: str | os.PathLike[str], *, fps: float | None = None,
                 partial: bool = False, cache_size: int = 8, threads: bool = True) -> None:
        super().__init__(Path(path), cache_size)
        caller_fps = _check_fps(fps)
        self._threads = threads
        self._container: av.container.InputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._gen: Iterator[tuple[int | None, av.VideoFrame]] | None = None
        self._pos: int | None = None          # index of the next frame the decoder yields
        self._peek: tuple[int, av.VideoFrame] | None = None

        container = self._open()
        try:
            stream = container.streams.video[self._vindex]
            self.codec = stream.codec_context.name
            self._coded_size = (int(stream.codec_context.width),
                                int(stream.codec_context.height))
            self._size = self._coded_size
            self._time_base = stream.time_base or Fraction(1, 1)
            declared_frames = int(stream.frames or 0)
            file_rate = stream.average_rate or stream.base_rate or stream.guessed_rate
            self._build_index(container, stream, declared_frames, partial)
        finally:
            container.close()

        self.declared_frames = declared_frames or None
        measured = None
        if self.n_frames >= 2 and self.stream_timestamps[-1] > 0:
            measured = (self.n_frames - 1) / float(self.stream_timestamps[-1])
        file_fps = float(file_rate) if file_rate and float(file_rate) > 0 else None
        self._set_fps(caller_fps, file_fps, measured)
        if caller_fps is not None:
            ts = np.arange(self.n_frames, dtype=np.float64) / caller_fps
        else:
            ts = self.stream_timestamps
        self._timestamps = ts
        self._timestamps.flags.writeable = False
        # Decode frame 0 now: proves the stream decodes, reads the display rotation (phone
        # videos; applied like OpenCV and ffmpeg do) and leaves the decoder at frame 1.
        self.rotation = 0
        try:
            first = self._decode_frame(0)
        except VideoError as e:
            self._drop_decoder()
            raise VideoError(self.path, e.problem, usable_frames=0) from e
        self.rotation = int(round(float(getattr(first, "rotation", 0) or 0) / 90.0)) % 4 * 90
        if self.rotation in (90, 270):
            self._size = (self._coded_size[1], self._coded_size[0])
        if self._cache_size:
            self._cache[0] = self._to_bgr(0, first)

    @property
    def fps_measured(self) -> float | None:
        """Mean frame rate of the file's own timestamps (even when ``fps`` was given)."""
        if self.n_frames < 2 or self.stream_timestamps[-1] <= 0:
            return None
        return float((self.n_frames - 1) / self.stream_timestamps[-1])

    @property
    def is_vfr(self) -> bool:
        """True when frame durations differ by more than 10% of the median."""
        if self.n_frames < 3:
            return False
        d = np.diff(self.stream_timestamps)
        med = float(np.median(d))
        return bool(med > 0 and np.max(np.abs(d - med)) > 0.1 * med)

    # -- opening and indexing ---------------------------------------------------------
    def _open(self) -> av.container.InputContainer:
        if not self.path.exists():
            raise VideoError(self.path, "file does not exist")
        if not self.path.is_file():
            raise VideoError(self.path, "not a regular file")
        try:
            container = av.open(str(self.path), mode="r")
        except Exception as e:  # PyAV raises many types (InvalidDataError, OSError, ...)
            raise VideoError(self.path, f"cannot be opened as a video: {_av_problem(e)}",
                             usable_frames=0) from e
        pic = int(getattr(av.stream.Disposition, "attached_pic", 0))
        videos = [k for k, s in enumerate(container.streams.video)
                  if not int(s.disposition) & pic]  # skip cover art in mp4/mkv
        if not videos:
            container.close()
            raise VideoError(self.path, "contains no video stream", usable_frames=0)
        self._vindex = videos[0]
        return container

    def _build_index(self, container: av.container.InputContainer, stream: av.VideoStream,
                     declared_frames: int, partial: bool) -> None:
        keys: list[int | None] = []
        dts_l: list[int | None] = []
        key_l: list[bool] = []
        corrupt_l: list[bool] = []
        n_read = 0
        demux_error: str | None = None
        try:
            for pkt in container.demux(stream):
                if pkt.size == 0 and pkt.pts is None and pkt.dts is None:
                    continue  # the flush packet at end of stream
                n_read += 1
                if pkt.size == 0 or pkt.is_discard:
                    continue  # empty "drop" chunks / edit-list discards: not frames
                pts, dts = pkt.pts, pkt.dts
                keys.append(pts if pts is not None else dts)
                dts_l.append(dts)
                key_l.append(pkt.is_keyframe)
                corrupt_l.append(pkt.is_corrupt)
        except Exception as e:  # noqa: BLE001 - any demux failure = truncated/corrupt data
            demux_error = f"demuxing stopped after {len(keys)} frames: {_av_problem(e)}"

        n = len(keys)
        if n == 0:
            raise VideoError(self.path, demux_error or "video stream has no frames",
                             usable_frames=0)
        problems: list[str] = []
        self._by_count = any(k is None for k in keys) or len(set(keys)) != n
        if self._by_count:
            # No usable timestamps: decode order is presentation order, count frames.
            order = np.arange(n)
            pts_sorted = np.arange(n, dtype=np.int64)
        else:
            k_arr = np.asarray(keys, dtype=np.int64)
            order = np.argsort(k_arr, kind="stable")
            pts_sorted = k_arr[order]
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)          # packet number -> presentation index

        usable = n
        corrupt = np.flatnonzero(np.asarray(corrupt_l, dtype=bool))
        if corrupt.size:
            # Frames decoded after a corrupt packet may reference it (B-frames), so the
            # usable prefix ends at the earliest frame among all later packets.
            usable = int(rank[corrupt[0]:].min())
            problems.append(f"frame {int(rank[corrupt[0]])} is corrupt or cut off "
                            f"({corrupt.size} corrupt packet(s))")
        if demux_error:
            problems.append(demux_error)
        if declared_frames and n_read < declared_frames:
            problems.append(f"truncated: header declares {declared_frames} frames, "
                            f"only {n_read} are in the file")
        if problems and (not partial or usable == 0):
            raise VideoError(self.path, "; ".join(problems) + f" ({usable} frames usable"
                             + ("" if partial else "; open with partial=True to read them")
                             + ")", usable_frames=usable)
        if self._by_count:
            self.notes = ("packets lack unique timestamps: random access decodes from "
                          "the start and timestamps assume a constant frame rate",)
        self.problems = tuple(problems)

        self.n_frames = usable
        self._pts = pts_sorted[:usable]
        # Keyframes by presentation index, with the timestamp to seek to (dts <= pts).
        is_kf = np.asarray(key_l, dtype=bool) & (rank < usable)
        if self._by_count:
            seek_ts = np.zeros(n, dtype=np.int64)
        else:
            dts_arr = np.asarray([k if d is None else d for d, k in zip(dts_l, keys)],
                                 dtype=np.int64)
            seek_ts = np.minimum(dts_arr, np.asarray(keys, dtype=np.int64))
        kf_rank = rank[is_kf]
        ko = np.argsort(kf_rank, kind="stable")
        self._kf_idx = kf_rank[ko]
        self._kf_ts = seek_ts[is_kf][ko]
        if self._by_count:
            ts = np.arange(usable, dtype=np.float64) / float(stream.guessed_rate or DEFAULT_FPS)
        else:
            ts = (self._pts - self._pts[0]).astype(np.float64) * float(self._time_base)
        self.start_time = 0.0 if self._by_count else float(self._pts[0] * self._time_base)
        ts.flags.writeable = False
        self.stream_timestamps = ts

    # -- decoding -------------------------------------------------------------------
    def _reopen(self) -> None:
        self._drop_decoder()
        self._container = self._open()
        self._stream = self._container.streams.video[self._vindex]
        if self._threads:
            self._stream.thread_type = "AUTO"

    def _drop_decoder(self) -> None:
        self._gen, self._pos, self._peek = None, None, None
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001
                pass
            self._container = None

    def _frames(self, counting_from: int | None) -> Iterator[tuple[int | None, av.VideoFrame]]:
        """Decoded frames in presentation order with their index (None if unknown)."""
        assert self._container is not None and self._stream is not None
        cc = self._stream.codec_context
        count = counting_from
        pts = self._pts

        def tag(f: av.VideoFrame) -> int | None:
            nonlocal count
            if count is not None:
                count += 1
                return count - 1
            t = f.pts if f.pts is not None else f.dts
            if t is None:
                return None
            k = int(np.searchsorted(pts, t))
            return k if k < len(pts) and pts[k] == t else None

        # A bad packet or a read error must not lose the frames still inside the decoder
        # (they are usually fine), so note the error and go on / drain.
        packets = self._container.demux(self._stream)
        while True:
            try:
                pkt = next(packets)
            except StopIteration:
                break
            except (av.FFmpegError, OSError) as e:
                self._decode_error = f"reading failed: {_av_problem(e)}"
                break
            if pkt.size == 0:
                continue
            if pkt.is_corrupt:
                self._decode_error = "packet is corrupt or cut off"
                continue
            try:
                frames = cc.decode(pkt)
            except av.FFmpegError as e:
                self._decode_error = _av_problem(e)
                continue
            for f in frames:
                yield tag(f), f
        try:
            frames = cc.decode(None)
        except av.FFmpegError as e:
            self._decode_error = _av_problem(e)
            return
        for f in frames:
            yield tag(f), f

    def _seek_before(self, i: int, extra: int) -> bool:
        """Position the decoder ``extra`` keyframes before frame i; True if at the start."""
        j = int(np.searchsorted(self._kf_idx, i, side="right")) - 1 - extra
        if self._container is None:
            self._reopen()
        if j <= 0 or self._by_count:
            # From the start: a fresh demuxer is the most reliable "seek to 0".
            self._reopen()
            self._gen = self._frames(0 if self._by_count else None)
            self._pos = 0 if self._by_count else None
            return True
        assert self._container is not None
        self._container.seek(int(self._kf_ts[j]), stream=self._stream, backward=True,
                             any_frame=False)
        self._gen, self._pos, self._peek = self._frames(None), None, None
        return False

    def _can_decode_forward(self, i: int) -> bool:
        """Decode on from the current position unless a keyframe well ahead saves work."""
        if self._gen is None or self._pos is None or self._pos > i:
            return False
        j = int(np.searchsorted(self._kf_idx, i, side="right")) - 1
        return j < 0 or int(self._kf_idx[j]) - self._pos <= self._SEEK_COST_FRAMES

    def _advance_to(self, i: int) -> av.VideoFrame | None:
        """Decode forward to frame i; None if the decoder passed or never reached it."""
        if self._peek is not None:
            idx, f = self._peek
            if idx == i:
                self._peek, self._pos = None, i + 1
                return f
            if idx > i:
                return None
            self._peek = None
        assert self._gen is not None
        for idx, f in self._gen:
            if idx is None:
                continue
            if idx == i:
                self._pos = i + 1
                return f
            if idx > i:
                self._peek, self._pos = (idx, f), idx
                return None
            self._pos = idx + 1
        self._gen, self._pos = None, None
        return None

    def _read_bgr(self, i: int, convert: bool = True) -> np.ndarray | None:
        found = self._decode_frame(i)
        return self._to_bgr(i, found) if convert else None

    def _decode_frame(self, i: int) -> av.VideoFrame:
        self._decode_error: str | None = None
        try:
            found = None
            for attempt in range(self._MAX_SEEK_TRIES + 1):
                at_start = False
                if attempt > 0 or not self._can_decode_forward(i):
                    extra = attempt if attempt < self._MAX_SEEK_TRIES else 1 << 30
                    at_start = self._seek_before(i, extra)
                found = self._advance_to(i)
                if found is not None or at_start:
                    break
        except VideoError:
            self._drop_decoder()
            raise
        except Exception as e:  # noqa: BLE001 - wrap every decoder failure
            self._drop_decoder()
            raise VideoError(self.path, f"frame {i}: decoding failed: {_av_problem(e)}") from e
        if found is None:
            why = f" ({self._decode_error})" if self._decode_error else ""
            raise VideoError(self.path, f"frame {i} (t={self.stream_timestamps[i]:.3f} s) "
                             f"cannot be decoded{why}")
        if (found.width, found.height) != self._coded_size:
            raise VideoError(self.path, f"frame {i} is {found.width}x{found.height}, "
                             f"expected {self._coded_size[0]}x{self._coded_size[1]}")
        return found

    def _to_bgr(self, i: int, found: av.VideoFrame) -> np.ndarray:
        try:
            img = found.to_ndarray(format="bgr24")
        except Exception as e:  # noqa: BLE001
            raise VideoError(self.path, f"frame {i}: colour conversion failed: "
                             f"{_av_problem(e)}") from e
        if self.rotation:
            img = np.rot90(img, self.rotation // 90)  # display matrix angle is CCW
        return np.ascontiguousarray(img)

    def _close(self) -> None:
        self._drop_decoder()


# ======================================================================================
# Frame folders (OpenCV)
# ======================================================================================

_NUMBERED = re.compile(r"^(.*?)(\d+)$")
_DIGITS = re.compile(r"(\d+)")


def _natural_key(name: str) -> list[object]:
    return [(0, int(t), t) if t.isdigit() else (1, 0, t.lower()) for t in _DIGITS.split(name)]


def _ranges(nums: list[int], limit: int = 20) -> str:
    """'5, 8-12, 20' for a sorted list of ints (at most ``limit`` runs shown)."""
    runs: list[str] = []
    start = prev = nums[0]
    for x in nums[1:] + [None]:  # type: ignore[list-item]
        if x is not None and x == prev + 1:
            prev = x
            continue
        runs.append(str(start) if start == prev else f"{start}-{prev}")
        if x is not None:
            start = prev = x
    more = f", ... ({len(runs) - limit} more runs)" if len(runs) > limit else ""
    return ", ".join(runs[:limit]) + more


class FrameFolderVideo(VideoSource):
    """A folder of JPEG/PNG frames (see module doc for layouts and gap handling).

    ``files[i]`` is the image served as frame i; ``first_number`` is the file number
    of frame 0 for numbered layouts (None for natural-sorted ones), so dataset labels
    given as file numbers convert with ``i = number - first_number``; ``filled`` lists
    the indices served by a later file because of ``fill_gaps``.
    """

    def __init__(self, path: str | os.PathLike[str], *, fps: float | None = None,
                 fill_gaps: bool = False, cache_size: int = 8) -> None:
        super().__init__(Path(path), cache_size)
        caller_fps = _check_fps(fps)
        if not self.path.is_dir():
            raise VideoError(self.path, "folder does not exist" if not self.path.exists()
                             else "not a folder")
        try:
            with os.scandir(self.path) as it:
                names = [e.name for e in it
                         if not e.name.startswith(".")
                         and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS
                         and e.is_file()]
        except OSError as e:
            raise VideoError(self.path, f"cannot list folder: {e.strerror or e}") from e
        if not names:
            raise VideoError(self.path, "folder contains no images ("
                             + ", ".join(sorted(IMAGE_EXTENSIONS)) + ")", usable_frames=0)
        self.first_number: int | None = None
        self.filled: tuple[int, ...] = ()
        self.files: list[Path] = self._arrange(names, fill_gaps)
        self.n_frames = len(self.files)
        self._set_fps(caller_fps, None, None)
        ts = np.arange(self.n_frames, dtype=np.float64) / self.fps
        ts.flags.writeable = False
        self._timestamps = ts
        first = self._decode(0)
        self._size = (int(first.shape[1]), int(first.shape[0]))

    @property
    def fps_measured(self) -> float | None:
        """Frame folders carry no timing, so there is nothing to measure."""
        return None

    def _arrange(self, names: list[str], fill_gaps: bool) -> list[Path]:
        parsed = [(n, _NUMBERED.match(os.path.splitext(n)[0])) for n in names]
        prefixes = {m.group(1) for _, m in parsed if m is not None}
        if any(m is None for _, m in parsed) or len(prefixes) != 1:
            names.sort(key=_natural_key)
            return [self.path / n for n in names]
        by_number: dict[int, str] = {}
        for name, m in parsed:
            num = int(m.group(2))  # type: ignore[union-attr]
            if num in by_number:
                other = by_number[num]
                raise VideoError(self.path / name, f"two files for frame number {num}: "
                                 f"{other} and {name}")
            by_number[num] = name
        numbers = sorted(by_number)
        first, last = numbers[0], numbers[-1]
        self.first_number = first
        if last - first + 1 != len(numbers):
            have = set(numbers)
            missing = [k for k in range(first, last + 1) if k not in have]
            if not fill_gaps:
                raise VideoError(self.path, f"{len(missing)} frame file(s) missing from the "
                                 f"numbering {first}-{last}: {_ranges(missing)} "
                                 "(use fill_gaps=True to serve each gap with the next file)",
                                 usable_frames=missing[0] - first)
            files: list[Path] = []
            filled: list[int] = []
            nxt = None
            for k in range(last, first - 1, -1):   # walk back so "next existing" is known
                if k in by_number:
                    nxt = by_number[k]
                else:
                    filled.append(k - first)
                files.append(self.path / nxt)  # type: ignore[operator]
            files.reverse()
            self.filled = tuple(sorted(filled))
            self.notes = (f"{len(missing)} missing frame file(s) filled with the next "
                             f"file: {_ranges(missing)}",)
            return files
        return [self.path / by_number[k] for k in numbers]

    def _decode(self, i: int) -> np.ndarray:
        f = self.files[i]
        try:
            data = np.fromfile(f, dtype=np.uint8)
        except OSError as e:
            raise VideoError(f, f"frame {i} cannot be read: {e.strerror or e}") from e
        img = None
        if data.size:
            try:
                img = cv2.imdecode(data, cv2.IMREAD_COLOR)
            except cv2.error:
                img = None
        if img is None:
            raise VideoError(f, f"frame {i} ({f.name}) cannot be decoded as an image "
                             "(corrupt or not an image)")
        if self._size != (0, 0) and (img.shape[1], img.shape[0]) != self._size:
            raise VideoError(f, f"frame {i} ({f}) is {img.shape[1]}x{img.shape[0]}, expected "
                             f"{self._size[0]}x{self._size[1]} like frame 0 "
                             f"({self.files[0].name})")
        return img

    def _read_bgr(self, i: int, convert: bool = True) -> np.ndarray | None:
        return self._decode(i)

    def _close(self) -> None:
        pass


# ======================================================================================

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
        raise VideoError(p, "file or folder does not exist")
    return ContainerVideo(p, fps=fps, partial=partial, cache_size=cache_size)
