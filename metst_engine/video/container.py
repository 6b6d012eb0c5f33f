"""Video files (mp4/avi/mov/mkv/...) read with PyAV, indexed by presentation timestamp."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from metst_engine.errors import VideoError
from metst_engine.video.source import DEFAULT_FPS, VideoSource, _check_fps


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
        caller_fps = _check_fps(fps, path)
        self._threads = threads
        self._container: av.container.InputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._gen: Iterator[tuple[int | None, av.VideoFrame]] | None = None
        self._pos: int | None = None          # index of the next frame the decoder yields
        self._peek: tuple[int, av.VideoFrame] | None = None
        self._decode_error: str | None = None  # last decoder complaint, for messages

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
        if self._by_count or self.n_frames < 2 or self.stream_timestamps[-1] <= 0:
            return None
        return float((self.n_frames - 1) / self.stream_timestamps[-1])

    @property
    def keyframe_indices(self) -> np.ndarray:
        """Presentation indices of the keyframes: where a seek starts decoding (a copy)."""
        return self._kf_idx.copy()

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
            raise VideoError(self.path, f"cannot be opened as a video: {_av_problem(e)}; is it a video file "
                                        "(mp4, avi, mov, mkv) that plays in a media player?",
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
        packets = _demux(container, stream)
        n = len(packets.keys)
        if n == 0:
            raise VideoError(self.path, packets.error or "video stream has no frames",
                             usable_frames=0)
        self._by_count = any(k is None for k in packets.keys) or len(set(packets.keys)) != n
        pts_sorted, rank = _presentation_order(packets.keys, self._by_count)
        usable, problems = _usable_frames(packets, rank, declared_frames)
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
        self._kf_idx, self._kf_ts = _keyframe_index(packets, rank, usable, self._by_count)
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
            for f in self._decode(cc, pkt):
                yield tag(f), f
        for f in self._decode(cc, None):
            yield tag(f), f

    def _decode(self, cc: av.CodecContext, pkt: av.Packet | None) -> list[av.VideoFrame]:
        """The frames ``pkt`` completes (None: drain the decoder); none if the decoder complains (noted)."""
        try:
            return cc.decode(pkt)
        except av.FFmpegError as e:
            self._decode_error = _av_problem(e)
            return []

    def _seek_before(self, i: int, extra: int) -> bool:
        """Position the decoder ``extra`` keyframes before frame i; True if at the start."""
        j = int(np.searchsorted(self._kf_idx, i, side="right")) - 1 - extra
        if j > 0 and not self._by_count:
            if self._container is None:
                self._reopen()
            assert self._container is not None
            try:
                self._container.seek(int(self._kf_ts[j]), stream=self._stream,
                                     backward=True, any_frame=False)
            except (av.FFmpegError, OSError):
                pass  # unseekable file: fall through to decoding from the start
            else:
                self._gen, self._pos, self._peek = self._frames(None), None, None
                return False
        # From the start: a fresh demuxer is the most reliable "seek to 0".
        self._reopen()
        self._gen = self._frames(0 if self._by_count else None)
        self._pos = 0 if self._by_count else None
        return True

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
        self._decode_error = None
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


@dataclass
class _Packets:
    """One demux pass over a video stream: per frame packet (decode order) its timestamp
    (pts, or dts where pts is missing), dts and flags."""

    keys: list[int | None] = field(default_factory=list)
    dts: list[int | None] = field(default_factory=list)
    keyframe: list[bool] = field(default_factory=list)
    corrupt: list[bool] = field(default_factory=list)
    n_read: int = 0                  #: packets in the file, empty "drop" chunks included
    error: str | None = None         #: why demuxing stopped early


def _demux(container: av.container.InputContainer, stream: av.VideoStream) -> _Packets:
    """Read every packet of ``stream`` (no decoding); a demux failure ends the pass."""
    packets = _Packets()
    try:
        for pkt in container.demux(stream):
            if pkt.size == 0 and pkt.pts is None and pkt.dts is None:
                continue  # the flush packet at end of stream
            packets.n_read += 1
            if pkt.size == 0 or pkt.is_discard:
                continue  # empty "drop" chunks / edit-list discards: not frames
            pts, dts = pkt.pts, pkt.dts
            packets.keys.append(pts if pts is not None else dts)
            packets.dts.append(dts)
            packets.keyframe.append(pkt.is_keyframe)
            packets.corrupt.append(pkt.is_corrupt)
    except Exception as e:  # noqa: BLE001 - any demux failure = truncated/corrupt data
        packets.error = f"demuxing stopped after {len(packets.keys)} frames: {_av_problem(e)}"
    return packets


def _presentation_order(keys: list[int | None], by_count: bool) -> tuple[np.ndarray, np.ndarray]:
    """The timestamps in presentation order and, per packet, its presentation index."""
    n = len(keys)
    if by_count:
        # No usable timestamps: decode order is presentation order, count frames.
        order = np.arange(n)
        pts_sorted = np.arange(n, dtype=np.int64)
    else:
        k_arr = np.asarray(keys, dtype=np.int64)
        order = np.argsort(k_arr, kind="stable")
        pts_sorted = k_arr[order]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)          # packet number -> presentation index
    return pts_sorted, rank


def _usable_frames(packets: _Packets, rank: np.ndarray, declared_frames: int) -> tuple[int, list[str]]:
    """How many frames (from the first, in presentation order) decode correctly, and what is wrong."""
    usable = len(packets.keys)
    problems: list[str] = []
    corrupt = np.flatnonzero(np.asarray(packets.corrupt, dtype=bool))
    if corrupt.size:
        # Frames decoded after a corrupt packet may reference it (B-frames), so the
        # usable prefix ends at the earliest frame among all later packets.
        usable = int(rank[corrupt[0]:].min())
        problems.append(f"frame {int(rank[corrupt[0]])} is corrupt or cut off "
                        f"({corrupt.size} corrupt packet(s))")
    if packets.error:
        problems.append(packets.error)
    if declared_frames and packets.n_read < declared_frames:
        problems.append(f"truncated: header declares {declared_frames} frames, "
                        f"only {packets.n_read} are in the file")
    return usable, problems


def _keyframe_index(packets: _Packets, rank: np.ndarray, usable: int,
                    by_count: bool) -> tuple[np.ndarray, np.ndarray]:
    """Keyframes by presentation index, with the timestamp to seek to (dts <= pts)."""
    is_kf = np.asarray(packets.keyframe, dtype=bool) & (rank < usable)
    if by_count:
        seek_ts = np.zeros(len(packets.keys), dtype=np.int64)
    else:
        dts_arr = np.asarray([k if d is None else d for d, k in zip(packets.dts, packets.keys)],
                             dtype=np.int64)
        seek_ts = np.minimum(dts_arr, np.asarray(packets.keys, dtype=np.int64))
    kf_rank = rank[is_kf]
    ko = np.argsort(kf_rank, kind="stable")
    return kf_rank[ko], seek_ts[is_kf][ko]
