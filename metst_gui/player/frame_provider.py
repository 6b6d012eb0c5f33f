"""Decodes frames off the GUI thread: exact frames with prefetch, proxy previews for cold seeks.

Why this shape (figures from ``bench/gui_bench.py``, 1080p H.264, keyframe every 60 frames,
B-frames, 2 cores): a cold exact seek costs ~230 ms (the decoder walks from the keyframe),
a sequential frame ~10 ms, a frame of an all-intra 960 px proxy ~7 ms. So

* one **exact worker** thread owns its own ``VideoSource`` and decodes the latest requested
  frame; it gives the preview worker up to 40 ms head start, so on 2 cores the preview
  is not slowed by the long exact decode;
* one **prefetch worker**, with a second ``VideoSource``, fills a byte-bounded LRU around the
  frame once it is shown (ahead while playing or stepping forward, behind when stepping
  back: a block is decoded in ascending order, so it costs one keyframe seek, not one per
  frame). A decoder cannot be interrupted inside a frame, and a keyframe seek costs up to
  a GOP of decoding, so prefetch has its own decoder: a new seek never waits for it;
* one **preview worker** reads the latest request from the all-intra proxy (when one
  exists) and shows it at once, so scrubbing a long-GOP file is fluid; the exact frame
  replaces it as soon as it is decoded;
* a **proxy builder** writes the proxy in the background the first time a long-GOP video
  is opened (``metst_engine.video.proxy``), cached by the video's content;
* in the **face view** (``set_face_view(True)``) with a face proxy (``use_face_proxy``, the
  all-intra full-resolution face crop built after Analyze, ``metst_engine.video.face_proxy``)
  the exact and prefetch workers read the face crop of frame i from it (~2 ms, no GOP walk)
  instead of decoding the whole frame, into their own cache; the image is marked with the
  source rectangle it shows (``frame_cache.source_rect``). A damaged proxy frame drops the
  proxy (``failed(-1, ...)``, logged) and the source is decoded instead.

"Latest seek wins": a request replaces the previous one; workers re-read the target
between frames and deliver only a frame that is still the target when it is done, so a
burst of seeks renders only its last frame.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui

from metst_engine.errors import MetstError, VideoError
from metst_engine.video import ContainerVideo, FrameFolderVideo, VideoSource, open_video
from metst_engine.video.face_proxy import FaceProxy, open_face_proxy
from metst_engine.video.fingerprint import video_fingerprint
from metst_engine.video.proxy import build_proxy, proxy_path
from metst_gui.player.frame_cache import FrameCache, bgr_to_qimage, set_source_rect

Opener = Callable[[], VideoSource]

DEFAULT_CACHE_BYTES = 768 * 1024 * 1024
PROXY_MIN_GOP = 8   # keyframes further apart than this (median) make cold seeks slow enough for a proxy
FACE_CACHE_BYTES = 256 * 1024 * 1024

log = logging.getLogger(__name__)


def reopen_like(video: VideoSource) -> Opener:
    """An opener for a second, independent source on the same video (a decoder per thread)."""
    caller_fps = video.fps if video.fps_source == "caller" else None
    if isinstance(video, FrameFolderVideo):
        # The original opened, so it had no gap or was opened with fill_gaps: both read the same.
        return lambda: open_video(video.path, fps=caller_fps, fill_gaps=True, cache_size=0)
    partial = bool(video.problems)
    return lambda: ContainerVideo(video.path, fps=caller_fps, partial=partial, cache_size=0)


def wants_proxy(video: VideoSource) -> bool:
    """True for container files whose keyframes are far apart (cold seeks decode many frames)."""
    if not isinstance(video, ContainerVideo) or video.n_frames < 2 * PROXY_MIN_GOP:
        return False
    kf = video.keyframe_indices
    gaps = np.diff(np.append(kf, video.n_frames))
    return bool(len(gaps) and float(np.median(gaps)) > PROXY_MIN_GOP)


class _Target:
    """The latest request, shared by the workers: index, a generation counter and a wake-up."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.index = -1
        self.generation = 0
        self.exact_delivered = -1      # generation whose exact frame has been delivered
        self.preview_done = -1         # generation the preview worker has finished with
        self.direction = 1
        self.playing = False           # while playing, a superseded exact frame is still shown (no starving)
        self.stopping = False

    def snapshot(self) -> tuple[int, int]:
        with self.cond:
            return self.index, self.generation

    def is_current(self, generation: int) -> bool:
        with self.cond:
            return generation == self.generation and not self.stopping


class FrameProvider(QtCore.QObject):
    """Owns decoding for one video; ``request(i)`` and receive ``frameReady(i, image)``.

    Signals: ``frameReady(index, QImage)`` the exact frame (pixels of ``VideoSource.frame``);
    ``previewReady(index, QImage)`` a smaller proxy image for a request whose exact frame is
    still decoding; ``failed(index, message)``; ``proxyProgress(done, total)`` and
    ``proxyAvailable(path)`` while and once the proxy is built. In the face view with a face
    proxy, ``frameReady`` carries the full-resolution face crop of the frame (see the module doc).
    """

    PREFETCH_DEBOUNCE_S = 0.03   # a held arrow key steps every ~33 ms: prefetch in the pauses, not
                                 # against the GUI thread painting each step (2 cores, one GIL)

    frameReady = QtCore.Signal(int, QtGui.QImage)
    previewReady = QtCore.Signal(int, QtGui.QImage)
    failed = QtCore.Signal(int, str)
    proxyProgress = QtCore.Signal(int, int)
    proxyAvailable = QtCore.Signal(str)

    def __init__(self, video: VideoSource, *, opener: Opener | None = None,
                 cache_bytes: int = DEFAULT_CACHE_BYTES, ahead: int = 30, behind: int = 15,
                 proxy: bool | str | Path = False, proxy_dir: str | Path | None = None,
                 parent: QtCore.QObject | None = None) -> None:
        """``proxy``: False (none), True (use or build one in the cache when the file has long
        GOPs), or the path of an existing proxy file."""
        super().__init__(parent)
        self.video = video
        self.n_frames = video.n_frames
        self._full_cache = FrameCache(cache_bytes)
        self._face_cache = FrameCache(min(cache_bytes, FACE_CACHE_BYTES))
        self._face_proxy: FaceProxy | None = None
        self._face_view = False
        self.ahead, self.behind = int(ahead), int(behind)
        self._opener = opener or reopen_like(video)
        self._target = _Target()
        self._proxy_lock = threading.Lock()
        self._proxy_source: VideoSource | None = None
        self.proxy_file: Path | None = None
        self.face_proxy_file: Path | None = None
        self._threads: list[threading.Thread] = []
        self._start(self._exact_loop, "metst-exact-decoder")
        self._start(self._prefetch_loop, "metst-prefetch-decoder")
        self._start(self._preview_loop, "metst-preview-decoder")
        if isinstance(proxy, (str, Path)) and not isinstance(proxy, bool):
            self._use_proxy(Path(proxy))
        elif proxy and wants_proxy(video):
            self._start(lambda: self._proxy_build_loop(proxy_dir), "metst-proxy-builder")

    # -- API (GUI thread) ---------------------------------------------------------------
    def request(self, index: int) -> None:
        """Ask for exactly frame ``index``; a newer request supersedes it.

        A cached frame is delivered on the next turn of the event loop (not inside this call),
        so a burst of requests made in one go delivers only its last frame.
        """
        index = int(min(max(index, 0), self.n_frames - 1))
        with self._target.cond:
            self._target.index = index
            self._target.generation += 1
            generation = self._target.generation
            self._target.cond.notify_all()
        if index in self.cache:
            QtCore.QTimer.singleShot(0, self, lambda: self._deliver_cached(index, generation))

    def _deliver_cached(self, index: int, generation: int) -> None:
        image = self.cache.get(index)
        with self._target.cond:
            if image is None or generation != self._target.generation or self._target.exact_delivered == generation:
                return
            self._target.exact_delivered = generation
            self._target.cond.notify_all()
        self.frameReady.emit(index, image)

    def set_direction(self, direction: int) -> None:
        """+1 while playing or stepping forward, -1 when stepping back: where to prefetch first."""
        with self._target.cond:
            self._target.direction = 1 if direction >= 0 else -1

    def set_playing(self, playing: bool) -> None:
        """While playing, deliver every decoded target (a decode slower than the clock would otherwise
        never be shown); when paused, only the latest request is delivered."""
        with self._target.cond:
            self._target.playing = bool(playing)
            self._target.cond.notify_all()       # prefetch runs continuously while playing

    def cached(self, index: int) -> QtGui.QImage | None:
        return self.cache.get(index)

    @property
    def cache(self) -> FrameCache:
        """The decoded frames of the current view (the face view's crops are kept apart)."""
        return self._face_cache if self.face_view_active else self._full_cache

    # -- face view ------------------------------------------------------------------------
    @property
    def face_view_active(self) -> bool:
        """True when frames come from the face proxy (face view on and a usable proxy)."""
        return self._face_view and self._face_proxy is not None

    def set_face_view(self, on: bool) -> None:
        """Show the face crop (from the face proxy when there is one) or the whole frame; re-requests the frame."""
        if bool(on) == self._face_view:
            return
        self._face_view = bool(on)
        if self._target.index >= 0 and self._face_proxy is not None:
            self.request(self._target.index)

    def use_face_proxy(self, path: str | Path) -> bool:
        """Read the face view from this face proxy; False (and ``failed(-1, why)``) if it is unusable."""
        try:
            proxy = open_face_proxy(path, source_fingerprint=video_fingerprint(self.video.path),
                                    n_frames=self.n_frames)
        except MetstError as exc:
            self._report_face_proxy(str(exc))
            return False
        with self._proxy_lock:
            old, self._face_proxy = self._face_proxy, proxy
        if old is not None:
            old.close()
        self._face_cache.clear()
        self.face_proxy_file = Path(path)
        if self._face_view and self._target.index >= 0:
            self.request(self._target.index)
        return True

    def _report_face_proxy(self, why: str) -> None:
        message = f"face proxy not used, showing the source: {why}"
        log.warning(message)
        self.failed.emit(-1, message)

    def _drop_face_proxy(self, proxy: FaceProxy, why: str) -> None:
        with self._proxy_lock:
            if self._face_proxy is not proxy:
                return                          # already dropped by the other worker
            self._face_proxy = None
        proxy.close()                           # a read in flight fails and falls back the same way
        self._face_cache.clear()
        self._report_face_proxy(why)

    @property
    def has_proxy(self) -> bool:
        return self._proxy_source is not None

    def close(self) -> None:
        """Stop the workers (each finishes the frame it is decoding) and release the files."""
        with self._target.cond:
            self._target.stopping = True
            self._target.cond.notify_all()
        for t in self._threads:
            t.join(timeout=5)
        with self._proxy_lock:
            if self._proxy_source is not None:
                self._proxy_source.close()
                self._proxy_source = None
            if self._face_proxy is not None:
                self._face_proxy.close()
                self._face_proxy = None

    # -- workers ------------------------------------------------------------------------
    def _start(self, fn: Callable[[], None], name: str) -> None:
        t = threading.Thread(target=fn, name=name, daemon=True)
        self._threads.append(t)
        t.start()

    def _wait_for_new(self, seen_generation: int) -> tuple[int, int] | None:
        """Block until a request newer than ``seen_generation``; None when stopping."""
        with self._target.cond:
            while not self._target.stopping and self._target.generation == seen_generation:
                self._target.cond.wait()
            if self._target.stopping:
                return None
            return self._target.index, self._target.generation

    def _exact_loop(self) -> None:
        try:
            source = self._opener()
        except MetstError as exc:
            self.failed.emit(-1, str(exc))
            return
        seen = 0
        try:
            while True:
                got = self._wait_for_new(seen)
                if got is None:
                    return
                index, seen = got
                if index < 0:
                    continue
                self._let_preview_go_first(index, seen)
                self._deliver_exact(source, index, seen)
        finally:
            source.close()

    def _let_preview_go_first(self, index: int, generation: int, head_start: float = 0.04) -> None:
        if self._proxy_source is None or index in self.cache or self.face_view_active:
            return
        with self._target.cond:
            self._target.cond.wait_for(lambda: self._target.preview_done >= generation or self._target.stopping
                                       or self._target.generation != generation, timeout=head_start)

    def _prefetch_loop(self) -> None:
        try:
            source = self._opener()
        except MetstError:
            return                               # the exact worker reports the problem
        done = 0
        t = self._target
        try:
            while True:
                with t.cond:
                    t.cond.wait_for(lambda done=done: t.stopping or (
                        t.generation != done and t.index >= 0 and (t.exact_delivered == t.generation or t.playing)))
                    if t.stopping:
                        return
                    index, done = t.index, t.generation
                    if not t.playing and t.cond.wait_for(lambda done=done: t.stopping or t.generation != done,
                                                         timeout=self.PREFETCH_DEBOUNCE_S):
                        continue                 # stepping or scrubbing on: wait for it to pause
                self._prefetch(source, index, done)
        finally:
            source.close()

    def _decode(self, source: VideoSource, index: int) -> QtGui.QImage:
        face = self._face_proxy if self._face_view else None
        cache = self._full_cache if face is None else self._face_cache
        image = cache.get(index)
        if image is not None:
            return image
        if face is not None:
            try:
                image = set_source_rect(bgr_to_qimage(face.frame(index)), face.crop.as_tuple())
            except MetstError as exc:
                self._drop_face_proxy(face, str(exc))
                return self._decode(source, index)
        else:
            image = bgr_to_qimage(source.frame(index))
        cache.put(index, image)
        return image

    def _deliver_exact(self, source: VideoSource, index: int, generation: int) -> bool:
        """Decode the target and emit it if it is still the target; False on failure."""
        try:
            image = self._decode(source, index)
        except (MetstError, IndexError) as exc:
            self.failed.emit(index, str(exc))
            return False
        with self._target.cond:
            if self._target.exact_delivered == generation or self._target.stopping:
                return True                     # the cached copy was delivered already
            current = generation == self._target.generation
            if current:
                self._target.exact_delivered = generation
                self._target.cond.notify_all()  # prefetch may start
            show = current or self._target.playing
        if show:
            self.frameReady.emit(index, image)
        return True

    def _prefetch_order(self, index: int, direction: int, playing: bool = False) -> list[int]:
        """Frames to decode next, each block ascending (one seek per block); only ahead while playing."""
        last = self.n_frames - 1
        if playing:
            blocks = [(index + 1, min(last, index + self.ahead))]
        elif direction >= 0:
            blocks = [(index + 1, min(last, index + self.ahead)), (max(0, index - self.behind), index - 1)]
        else:
            blocks = [(max(0, index - self.ahead), index - 1), (index + 1, min(last, index + self.behind))]
        return [i for lo, hi in blocks for i in range(lo, hi + 1)]

    def _prefetch(self, source: VideoSource, index: int, generation: int) -> None:
        with self._target.cond:
            direction, playing = self._target.direction, self._target.playing
        for i in self._prefetch_order(index, direction, playing):
            if not self._target.is_current(generation):
                return
            if i in self.cache:
                continue
            try:
                self._decode(source, i)
            except (MetstError, IndexError):
                return

    def _preview_loop(self) -> None:
        seen = 0
        while True:
            got = self._wait_for_new(seen)
            if got is None:
                return
            index, seen = got
            image = self._read_preview(index)
            with self._target.cond:
                show = (image is not None and seen == self._target.generation
                        and self._target.exact_delivered != seen and not self._target.stopping)
                self._target.preview_done = seen
                self._target.cond.notify_all()
            if show:
                self.previewReady.emit(index, image)

    def _read_preview(self, index: int) -> QtGui.QImage | None:
        """The proxy's frame ``index``, or None without a proxy, for a cached frame or on failure."""
        with self._proxy_lock:
            source = self._proxy_source
            if source is None or index < 0 or index in self.cache or self.face_view_active:
                return None
            try:
                return bgr_to_qimage(source.frame(index))
            except (MetstError, IndexError):
                return None

    def _proxy_build_loop(self, proxy_dir: str | Path | None) -> None:
        try:
            dest = proxy_path(self.video.path, proxy_dir)
            if not dest.is_file():
                source = self._opener()
                try:
                    built = build_proxy(source, dest, progress=self.proxyProgress.emit,
                                        should_stop=lambda: self._target.stopping)
                finally:
                    source.close()
                if built is None:
                    return
            self._use_proxy(dest)
        except Exception as exc:  # noqa: BLE001 - a background builder reports instead of dying silently
            self.failed.emit(-1, f"proxy: {exc}")

    def _use_proxy(self, path: Path) -> None:
        proxy = ContainerVideo(path, threads=False, cache_size=0)
        if proxy.n_frames != self.n_frames:
            proxy.close()
            raise VideoError(path, f"proxy has {proxy.n_frames} frames, the video {self.n_frames}")
        with self._proxy_lock:
            self._proxy_source = proxy
        self.proxy_file = path
        self.proxyAvailable.emit(str(path))
