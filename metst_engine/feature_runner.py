"""Runs the feature walk over a video: in this process or in a persistent pool of worker
processes, joined in video order, kept per chunk on disk, handed out chunk by chunk.

Why it is built this way:

* The time goes into Farneback (the method's own arithmetic, about four fifths of it).
  OpenCV runs one Farneback call on one core, so more cores means more walkers. A worker
  process costs a start-up (interpreter, imports, the landmark model: seconds), so an
  :class:`ExtractionPool` starts its workers once and keeps them, each with its landmark
  model and its open video, across chunks and videos, and the calling process walks too
  (a thread: OpenCV releases the GIL) so that it starts at once.
* Each worker walks a long contiguous *stretch* of windows with one sequential decode
  (``features.walk_windows``) and sends every finished chunk back at once (a queue), so
  progress, cancel, the per-chunk cache and early results work at chunk granularity
  while the decode is never restarted inside a stretch.
* The one-process walk carries state from window to window (the face the tracker
  follows, the alignment borrowed where no face is found). A stretch that starts in the
  middle of a video starts from a guess; each chunk records what it assumed
  (``WindowChunk``), and the chunks are joined strictly in video order, each checked
  against the true state the chunks before it leave. A chunk whose assumption would have
  changed a choice is computed again from the true state, so the result is bit-identical
  to the one-process walk (in practice the check passes: the guess differs only where
  the face the walk follows is not the largest in view at a stretch start).
* The same check makes chunks kept on disk (:class:`ChunkStore`) safe to reuse: a run
  that was cancelled or killed resumes with the chunks it has and computes the rest.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue as queue_mod
import shutil
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .atomic import atomic_path
from .errors import Cancelled, FaceNotFoundError, InputError, MetstError, VideoError
from .face import Box, FaceAlignment, FaceTracker, LandmarkModel, default_landmark_model
from .features import (
    CHUNK_WINDOWS,
    CancelFn,
    ExtractParams,
    FeatureSet,
    ProbeTracker,
    ProgressFn,
    WalkState,
    WindowChunk,
    params_record,
    walk_windows,
    window_features,
    window_frames,
    window_plan,
)
from .rois import RoiSet, load_roi_set
from .video import VideoSource, open_video

#: Windows per stretch a worker walks in one go, about: long enough that a stretch's
#: start (a seek, half a window decoded twice, the face search) costs under 1 %, short
#: enough that two workers finish close together on a shared machine.
STRETCH_WINDOWS = 48
#: How long the joining loop waits for a message before it looks at cancel and failures, s.
_POLL_S = 0.1


@dataclass(frozen=True)
class FeatureChunk:
    """Final features of windows [w0, w1) of a video, handed out in video order, and
    ``so_far``: the features of windows [0, w1) (read-only views; ``n_frames`` = the
    source frames they cover) for a look at the first minutes while the rest is computed."""

    w0: int
    w1: int
    n_windows: int              #: windows of the whole video
    n_frames: int               #: source frames of the whole video
    so_far: FeatureSet

    @property
    def features(self) -> np.ndarray:
        return self.so_far.features[self.w0:self.w1]


def feature_prefix(feats: FeatureSet, w1: int) -> FeatureSet:
    """Windows [0, w1) of ``feats`` as a FeatureSet of the frames they cover (read-only views)."""
    w1 = min(w1, feats.n_windows)
    span = feats.n_frames if w1 == feats.n_windows else (int(feats.starts[w1 - 1]) + feats.k * feats.skip) if w1 else 0
    views = []
    for a in (feats.features, feats.face_ok, feats.crop_boxes, feats.starts):
        v = a[:w1]
        v.flags.writeable = False
        views.append(v)
    return FeatureSet(features=views[0], channel_names=feats.channel_names, starts=views[3], face_ok=views[1],
                      crop_boxes=views[2], n_frames=min(span, feats.n_frames), fps=feats.fps, skip=feats.skip,
                      k=feats.k, params=feats.params)


# ------------------------------------------------------------------------ chunk plan
def walk_edges(a: int, b: int, chunk_windows: int) -> list[int]:
    """Chunk edges of a walk over windows [a, b): ``a``, the fixed grid of ``chunk_windows``
    from window 0 strictly inside, ``b`` (the grid is the same for any worker count, so
    kept chunks fit the next run)."""
    if chunk_windows < 1:
        raise ValueError(f"chunk_windows must be >= 1, got {chunk_windows}")
    first = (a // chunk_windows + 1) * chunk_windows
    return [a, *range(first, b, chunk_windows), b]


def missing_ranges(n_windows: int, kept: dict[int, WindowChunk]) -> list[tuple[int, int]]:
    """Window ranges of [0, n_windows) that no kept chunk covers."""
    out: list[tuple[int, int]] = []
    w = 0
    for a in sorted(kept):
        if a > w:
            out.append((w, a))
        w = max(w, kept[a].w1)
    if w < n_windows:
        out.append((w, n_windows))
    return out


def plan_stretches(ranges: Sequence[tuple[int, int]], workers: int,
                   stretch_windows: int = STRETCH_WINDOWS) -> list[tuple[int, int]]:
    """Cut the missing window ranges (in order) into contiguous stretches of about equal length:
    a multiple of ``workers`` of them, about ``stretch_windows`` windows each."""
    total = sum(b - a for a, b in ranges)
    if total <= 0:
        return []
    workers = max(1, workers)
    n = workers * max(1, math.ceil(total / (workers * stretch_windows)))
    cuts = [round(total * i / n) for i in range(1, n)]     # in windows counted over the ranges
    out: list[tuple[int, int]] = []
    before = 0
    for a, b in ranges:
        edges = [a] + [a + c - before for c in cuts if before < c < before + (b - a)] + [b]
        out += [(x, y) for x, y in zip(edges, edges[1:]) if y > x]
        before += b - a
    return out


# ------------------------------------------------------------------------ joining
def _same_alignment(a: FaceAlignment | None, b: FaceAlignment | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.frame_index == b.frame_index and a.face_box == b.face_box and a.crop_box == b.crop_box
            and a.crop_size == b.crop_size and np.array_equal(a.landmarks, b.landmarks))


def _same_choices(chunk: WindowChunk, true_box: Box | None) -> bool:
    """Would the tracker, following ``true_box``, have chosen as the chunk's walk did?"""
    if chunk.seed == true_box:
        return True
    replay = FaceTracker(None)   # type: ignore[arg-type]  # choose() needs no model
    replay.last = true_box
    return all(replay.choose(list(boxes)) == chosen for boxes, chosen in chunk.probe)


class _Joiner:
    """Joins chunks in video order, checks each against the true walk state and fills the
    windows that came before any alignment was known."""

    def __init__(self, video: VideoSource, params: ExtractParams, roi_set: RoiSet, n_windows: int,
                 on_chunk: Callable[[FeatureChunk], None] | None):
        self.video, self.params, self.roi_set, self.n = video, params, roi_set, n_windows
        half, s = params.window // 2, params.skip
        self.out = FeatureSet(features=np.zeros((n_windows, roi_set.n_channels, params.window), np.float32),
                              channel_names=roi_set.channel_names,
                              starts=np.arange(n_windows, dtype=np.int64) * half * s,
                              face_ok=np.zeros(n_windows, bool), crop_boxes=np.zeros((n_windows, 4), np.int64),
                              n_frames=int(video.n_frames), fps=float(video.fps), skip=s, k=params.window,
                              params=params_record(params, roi_set))
        self.feats, self.face_ok, self.boxes = self.out.features, self.out.face_ok, self.out.crop_boxes
        self.next = 0                       #: first window not joined yet
        self.state = WalkState()            #: the one-process walk's state at window ``next``
        self.unfilled: list[int] = []       #: windows before the video's first face
        self.released = 0                   #: windows handed to on_chunk
        self.on_chunk = on_chunk

    @property
    def done(self) -> bool:
        return self.next >= self.n

    def fits(self, chunk: WindowChunk) -> bool:
        return chunk.w0 == self.next and _same_choices(chunk, self.state.face_box) and (
            chunk.incoming is None or _same_alignment(chunk.incoming, self.state.alignment))

    def join(self, chunk: WindowChunk) -> None:
        """Take a chunk that :meth:`fits`."""
        a, b = chunk.w0, chunk.w1
        self.feats[a:b], self.face_ok[a:b], self.boxes[a:b] = chunk.feats, chunk.face_ok, chunk.boxes
        for w in np.flatnonzero(~chunk.computed) + a:
            if self.state.alignment is not None:
                self._fill(int(w), self.state.alignment)
            else:
                self.unfilled.append(int(w))
        if chunk.first is not None:
            for w in self.unfilled:            # the one-process walk waits for the first face
                self._fill(w, chunk.first)
            self.unfilled.clear()
            self.state = WalkState(chunk.end_box, chunk.last)
        self.next = b
        self._release()

    def _fill(self, w: int, al: FaceAlignment) -> None:
        self.boxes[w] = al.crop_box.as_tuple()
        self.feats[w] = window_features(window_frames(self.video, self.params, w), al.crop_box, al.landmarks,
                                        self.roi_set, self.params)

    def _release(self) -> None:
        upto = self.unfilled[0] if self.unfilled else self.next
        if self.on_chunk is not None and upto > self.released:
            self.on_chunk(FeatureChunk(self.released, upto, self.n, self.out.n_frames, feature_prefix(self.out, upto)))
        self.released = max(self.released, upto)

    def result(self) -> FeatureSet:
        if self.unfilled:
            raise FaceNotFoundError(self.video.path, f"no face found in any of the {self.n} windows (tried every "
                                                     f"window start and every {self.params.face_search_step}rd "
                                                     f"frame around it)")
        return self.out


# ------------------------------------------------------------------------ chunk store
def _box_array(b: Box | None) -> np.ndarray:
    return np.zeros(0, np.int64) if b is None else np.array(b.as_tuple(), np.int64)


def _box_of(a: np.ndarray) -> Box | None:
    return None if a.size == 0 else Box(*(int(v) for v in a))


def _alignment_arrays(prefix: str, al: FaceAlignment | None) -> dict[str, np.ndarray]:
    if al is None:
        return {f"{prefix}_present": np.array(False)}
    return {f"{prefix}_present": np.array(True), f"{prefix}_frame_index": np.int64(al.frame_index),
            f"{prefix}_face_box": _box_array(al.face_box), f"{prefix}_crop_box": _box_array(al.crop_box),
            f"{prefix}_landmarks": np.asarray(al.landmarks, np.float64),
            f"{prefix}_source_landmarks": np.asarray(al.source_landmarks, np.float64),
            f"{prefix}_crop_size": np.int64(al.crop_size)}


def _alignment_of(z: Any, prefix: str) -> FaceAlignment | None:
    if not bool(z[f"{prefix}_present"]):
        return None
    face_box, crop_box = _box_of(z[f"{prefix}_face_box"]), _box_of(z[f"{prefix}_crop_box"])
    assert face_box is not None and crop_box is not None
    return FaceAlignment(int(z[f"{prefix}_frame_index"]), face_box, crop_box, np.array(z[f"{prefix}_landmarks"]),
                         np.array(z[f"{prefix}_source_landmarks"]), int(z[f"{prefix}_crop_size"]))


class ChunkStore:
    """Finished chunks of one video's extraction on disk (``<folder>/w<w0>-<w1>.npz``), for resume.

    The folder belongs to one video and one parameter set (the caller keys it, see
    ``cache.parts_dir``); every file is written atomically and read without pickle; an
    unreadable file is dropped and its windows computed again.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def _file(self, w0: int, w1: int) -> Path:
        return self.folder / f"w{w0:07d}-{w1:07d}.npz"

    def save(self, chunk: WindowChunk) -> None:
        counts = np.array([len(boxes) for boxes, _ in chunk.probe], np.int64)
        cand = [b.as_tuple() for boxes, _ in chunk.probe for b in boxes]
        chosen = [(0, 0, 0, 0, 0) if c is None else (1, *c.as_tuple()) for _, c in chunk.probe]
        arrays = {"w0": np.int64(chunk.w0), "feats": chunk.feats, "face_ok": chunk.face_ok, "boxes": chunk.boxes,
                  "computed": chunk.computed, "seed": _box_array(chunk.seed), "end_box": _box_array(chunk.end_box),
                  "probe_counts": counts, "probe_boxes": np.array(cand, np.int64).reshape(-1, 4),
                  "probe_chosen": np.array(chosen, np.int64).reshape(-1, 5),
                  **_alignment_arrays("incoming", chunk.incoming), **_alignment_arrays("first", chunk.first),
                  **_alignment_arrays("last", chunk.last)}
        with atomic_path(self._file(chunk.w0, chunk.w1)) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    def load(self, n_windows: int, n_channels: int, k: int) -> dict[int, WindowChunk]:
        """The kept chunks (by first window) that fit [0, n_windows) and the feature shape, without overlaps."""
        found: dict[int, WindowChunk] = {}
        if not self.folder.is_dir():
            return found
        end = 0
        for file in sorted(self.folder.glob("w*-*.npz")):
            try:
                with np.load(file, allow_pickle=False) as z:
                    chunk = self._chunk_of(z)
            except (OSError, ValueError, KeyError, TypeError, AssertionError):
                file.unlink(missing_ok=True)
                continue
            if (file.name == self._file(chunk.w0, chunk.w1).name and end <= chunk.w0 < chunk.w1 <= n_windows
                    and chunk.feats.shape[1:] == (n_channels, k)):
                found[chunk.w0] = chunk
                end = chunk.w1
        return found

    @staticmethod
    def _chunk_of(z: Any) -> WindowChunk:
        counts, cand, chosen = z["probe_counts"], z["probe_boxes"], z["probe_chosen"]
        probe, at = [], 0
        for i, c in enumerate(counts):
            boxes = tuple(Box(*(int(v) for v in row)) for row in cand[at:at + int(c)])
            at += int(c)
            probe.append((boxes, Box(*(int(v) for v in chosen[i, 1:])) if chosen[i, 0] else None))
        return WindowChunk(int(z["w0"]), np.array(z["feats"], np.float32), np.array(z["face_ok"], bool),
                           np.array(z["boxes"], np.int64), np.array(z["computed"], bool), _box_of(z["seed"]),
                           _alignment_of(z, "incoming"), tuple(probe), _box_of(z["end_box"]),
                           _alignment_of(z, "first"), _alignment_of(z, "last"))

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


# ------------------------------------------------------------------------ walkers
@dataclass
class _Walker:
    """One walker (a pool worker process, or the joining process's own walking thread): its
    landmark model and its open video, kept between stretches and videos."""

    messages: Any                       #: multiprocessing queue to the joining process
    cancelled: Any                      #: multiprocessing event
    model: LandmarkModel | None = None
    model_error: str | None = None
    video_key: tuple[Any, ...] | None = None
    video: VideoSource | None = None

    def load_model(self) -> None:
        if self.model is None and self.model_error is None:
            try:
                self.model = default_landmark_model()
            except MetstError as exc:
                self.model_error = str(exc)

    def open(self, open_args: dict[str, Any]) -> VideoSource:
        path = Path(open_args["path"])
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns, open_args["fps"], open_args["fill_gaps"])
        if self.video is None or self.video_key != key:
            if self.video is not None:
                self.video.close()
            self.video = open_video(path, fps=open_args["fps"], fill_gaps=open_args["fill_gaps"])
            self.video_key = key
        return self.video

    def walk(self, job: int, run: int, open_args: dict[str, Any], params: ExtractParams, edges: list[int],
             state: WalkState) -> int:
        """Walk one stretch; every finished chunk goes to the queue at once. Returns the chunks sent.

        Errors the user should see (a frame that does not decode, ...) go to the queue as
        (kind, path, problem): not every error survives pickling.
        """
        sent = 0
        try:
            self.load_model()
            if self.model is None:
                raise InputError(None, self.model_error or "no landmark model")
            video = self.open(open_args)
            tracker = ProbeTracker(self.model, mode=params.alignment)
            for chunk in walk_windows(video, params, load_roi_set(params.rois), tracker, state, edges,
                                      on_window=lambda: self.messages.put(("tick", job, run, 1)),
                                      cancel=self.cancelled.is_set):
                self.messages.put(("chunk", job, run, chunk))
                sent += 1
        except Cancelled:
            pass
        except InputError as exc:
            self.messages.put(("error", job, run, (type(exc).__name__, None if exc.path is None else str(exc.path),
                                                   exc.problem)))
        return sent


_WORKER: _Walker | None = None   # set once in each pool worker process by _init_worker, nowhere else


def _init_worker(messages: Any, cancelled: Any) -> None:
    """Pool worker start: one OpenCV thread, the landmark model loaded once. Ctrl-C in a
    terminal reaches the whole process group: the workers leave it to the joining process,
    which stops them through the cancel event (so the chunks already done are kept)."""
    global _WORKER
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)
    _WORKER = _Walker(messages, cancelled)
    _WORKER.load_model()


def _warm_task() -> int:
    return os.getpid()


def _walk_task(job: int, run: int, open_args: dict[str, Any], params: ExtractParams, edges: list[int],
               state: WalkState) -> int:
    assert _WORKER is not None, "_walk_task runs in an ExtractionPool worker"
    return _WORKER.walk(job, run, open_args, params, edges, state)


def _raise_relayed(info: tuple[str, str | None, str]) -> None:
    name, path, problem = info
    cls = {"VideoError": VideoError, "FaceNotFoundError": FaceNotFoundError}.get(name, InputError)
    raise cls(path, problem)


class _LocalRun(threading.Thread):
    """One stretch walked by the joining process itself (in a thread: Farneback releases the GIL)."""

    def __init__(self, walker: _Walker, args: tuple[Any, ...]):
        super().__init__(daemon=True, name="metst-walk")
        self.walker, self.args = walker, args
        self.sent: int | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.sent = self.walker.walk(*self.args)
        except BaseException as exc:  # noqa: BLE001 - handed to the joining thread, which raises it
            self.error = exc


class ExtractionPool:
    """Walkers for feature extraction: ``workers - 1`` worker processes plus this process,
    started once and kept (with their landmark model and open video) across chunks and
    videos; one video at a time.

    This process walks too (in a thread), so it starts at once while the worker processes
    start up (seconds: interpreter, imports, landmark model), and no core waits on a
    joining process that has little to do. Stretches go to whichever walker is free, in
    video order. Use as a context manager, or call :meth:`close`. Processes are spawned
    (not forked), so a calling script needs the ``if __name__ == "__main__":`` guard.
    """

    def __init__(self, workers: int):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        ctx = multiprocessing.get_context("spawn")
        self._messages = ctx.Queue()
        self._cancelled = ctx.Event()
        self._procs = workers - 1
        self._pool = ProcessPoolExecutor(max_workers=self._procs, mp_context=ctx, initializer=_init_worker,
                                         initargs=(self._messages, self._cancelled)) if self._procs else None
        self._local = _Walker(self._messages, self._cancelled)
        self._lock = threading.Lock()
        self._job = 0

    def warm(self) -> None:
        """Start every worker process now (each loads its landmark model), without waiting for them."""
        for _ in range(self._procs):
            assert self._pool is not None
            self._pool.submit(_warm_task)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._local.video is not None:
            self._local.video.close()
        self._messages.close()

    def __enter__(self) -> "ExtractionPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, video: VideoSource, params: ExtractParams, joiner: _Joiner, chunk_windows: int,
            kept: dict[int, WindowChunk], store: ChunkStore | None, tick: Callable[[int], None],
            cancel: CancelFn | None) -> None:
        """Join every window into ``joiner``: kept chunks where they fit, the rest walked."""
        with self._lock:
            self._job += 1
            self._cancelled.clear()
            _Job(self, video, params, joiner, chunk_windows, kept, store, tick, cancel).run()


class _Job:
    """One video on an :class:`ExtractionPool`: hands out stretches, joins what comes back."""

    def __init__(self, pool: ExtractionPool, video: VideoSource, params: ExtractParams, joiner: _Joiner,
                 chunk_windows: int, kept: dict[int, WindowChunk], store: ChunkStore | None,
                 tick: Callable[[int], None], cancel: CancelFn | None):
        self.pool, self.params, self.joiner, self.chunk_windows = pool, params, joiner, chunk_windows
        self.store, self.tick, self.cancel = store, tick, cancel
        self.id = pool._job
        self.open_args = _reopen_args(video)
        self.pending: list[tuple[int, int, WalkState]] = [
            (a, b, WalkState()) for a, b in plan_stretches(missing_ranges(joiner.n, kept), pool.workers)]
        self.ends: dict[int, int] = {}                  # run id -> its last window + 1
        self.futures: dict[int, Future[int]] = {}       # runs in worker processes
        self.local: tuple[int, _LocalRun] | None = None  # the run in this process
        self.local_sent: dict[int, int] = {}            # finished runs in this process -> chunks sent
        self.received: dict[int, int] = {}
        self.dropped: dict[int, int] = {}               # run id -> first window no longer wanted
        self.arrived: dict[int, tuple[int, WindowChunk]] = {a: (-1, c) for a, c in kept.items()}

    def run(self) -> None:
        pool = self.pool
        try:
            while not self.joiner.done:
                if self.cancel is not None and self.cancel():
                    raise Cancelled("extraction cancelled")
                self._join_ready()
                if self.joiner.done:
                    break
                self._dispatch()
                try:
                    msg = pool._messages.get(timeout=_POLL_S)
                except queue_mod.Empty:
                    self._check()
                    continue
                kind, job, rid = msg[0], msg[1], msg[2]
                if job != self.id:
                    continue                      # left over from a cancelled job
                if kind == "tick":
                    self.tick(msg[3])
                elif kind == "chunk":
                    self.received[rid] += 1
                    chunk: WindowChunk = msg[3]
                    if rid not in self.dropped or chunk.w0 < self.dropped[rid]:
                        self.arrived[chunk.w0] = (rid, chunk)
                        if self.store is not None:
                            self.store.save(chunk)
                elif kind == "error":
                    _raise_relayed(msg[3])
        except BaseException:
            pool._cancelled.set()
            self._stop_all()
            raise
        finally:
            for fut in self.futures.values():   # walks redone from the true state: not wanted any more
                fut.cancel()

    def _new_run(self, a: int, b: int) -> int:
        rid = len(self.ends)
        self.ends[rid] = b
        self.received[rid] = 0
        return rid

    def _dispatch(self) -> None:
        """Next stretches, in video order, to the free walkers: this process first."""
        if self.pending and (self.local is None or not self.local[1].is_alive()):
            self._finish_local()
            a, b, state = self.pending.pop(0)
            rid = self._new_run(a, b)
            t = _LocalRun(self.pool._local, (self.id, rid, self.open_args, self.params,
                                              walk_edges(a, b, self.chunk_windows), state))
            self.local = (rid, t)
            t.start()
        busy = sum(1 for f in self.futures.values() if not f.done())
        while self.pending and busy < self.pool._procs:
            assert self.pool._pool is not None
            a, b, state = self.pending.pop(0)
            rid = self._new_run(a, b)
            self.futures[rid] = self.pool._pool.submit(_walk_task, self.id, rid, self.open_args, self.params,
                                                       walk_edges(a, b, self.chunk_windows), state)
            busy += 1

    def _finish_local(self) -> None:
        if self.local is not None and not self.local[1].is_alive():
            rid, t = self.local
            if t.error is not None:
                raise t.error
            self.local_sent[rid] = t.sent or 0

    def _join_ready(self) -> None:
        while not self.joiner.done and self.joiner.next in self.arrived:
            rid, chunk = self.arrived.pop(self.joiner.next)
            if self.joiner.fits(chunk):
                self.joiner.join(chunk)
                continue
            # walked from a wrong guess: walk again from the true state, as far as that walk was to go
            end = self.ends[rid] if rid >= 0 else chunk.w1
            if rid >= 0:
                self.dropped[rid] = chunk.w0
                for w in [w for w, (r, _) in self.arrived.items() if r == rid]:
                    del self.arrived[w]
            self.pending.insert(0, (chunk.w0, end, self.joiner.state))
            return

    def _check(self) -> None:
        """Raise a walker's failure; never wait for chunks that cannot come any more."""
        self._finish_local()
        for fut in self.futures.values():
            if fut.done() and not fut.cancelled() and fut.exception() is not None:
                raise fut.exception()  # type: ignore[misc]
        sent = {rid: f.result() for rid, f in self.futures.items() if f.done() and not f.cancelled()}
        sent.update(self.local_sent)
        busy = [rid for rid in self.ends if rid not in self.dropped and sent.get(rid) != self.received[rid]]
        if not busy and not self.pending and self.joiner.next not in self.arrived:
            raise RuntimeError(f"internal error: no walk covers window {self.joiner.next}")

    def _stop_all(self) -> None:
        """After a cancel or a failure: stop the walks (they see the event within a window)."""
        for fut in self.futures.values():
            fut.cancel()
        if self.local is not None:
            self.local[1].join()
        for fut in self.futures.values():
            if not fut.cancelled():
                try:
                    fut.result()
                except BaseException:  # noqa: BLE001 - the first failure is the one raised
                    pass


def _reopen_args(video: VideoSource) -> dict[str, Any]:
    """How a worker process opens the same video with the same frame numbering."""
    return {"path": str(video.path), "fps": video.fps if video.fps_source == "caller" else None,
            "fill_gaps": bool(getattr(video, "filled", ()))}


# ------------------------------------------------------------------------ in this process
def _run_here(video: VideoSource, params: ExtractParams, roi_set: RoiSet, model: LandmarkModel | None,
              joiner: _Joiner, chunk_windows: int, kept: dict[int, WindowChunk], store: ChunkStore | None,
              tick: Callable[[int], None], cancel: CancelFn | None) -> None:
    """Join kept chunks where they fit; walk from the true state wherever none fits (the
    landmark model is loaded only then: seconds saved when every chunk is kept)."""
    tracker: ProbeTracker | None = None
    while not joiner.done:
        chunk = kept.pop(joiner.next, None)
        if chunk is not None and joiner.fits(chunk):
            joiner.join(chunk)
            continue
        end = min([w for w in kept if w > joiner.next], default=joiner.n)
        tracker = tracker or ProbeTracker(model or default_landmark_model(), mode=params.alignment)
        for chunk in walk_windows(video, params, roi_set, tracker, joiner.state,
                                  walk_edges(joiner.next, end, chunk_windows), lambda: tick(1), cancel):
            if store is not None:
                store.save(chunk)
            joiner.join(chunk)


def run_extraction(video: VideoSource, params: ExtractParams, *, model: LandmarkModel | None = None,
                   progress: ProgressFn | None = None, cancel: CancelFn | None = None, workers: int = 1,
                   chunk_windows: int = CHUNK_WINDOWS, pool: ExtractionPool | None = None,
                   store: ChunkStore | None = None,
                   on_chunk: Callable[[FeatureChunk], None] | None = None) -> FeatureSet:
    """See :func:`metst_engine.features.extract_features` (its front door)."""
    params.validate()
    roi_set = load_roi_set(params.rois)
    k, s = params.window, params.skip
    n_frames = int(video.n_frames)
    n_after, n_windows = window_plan(n_frames, k, s)
    if n_windows <= 0:
        raise InputError(video.path, f"too short: {n_frames} frames ({n_after} after skip {s}) give no complete "
                                     f"window of {k} frames; need at least {k * s} frames")
    walk_edges(0, n_windows, chunk_windows)    # validates chunk_windows
    kept = store.load(n_windows, roi_set.n_channels, k) if store is not None else {}
    done = 0

    def tick(count: int = 1) -> None:
        nonlocal done
        done = min(done + count, n_windows)
        if progress:
            progress(done, n_windows)

    tick(sum(c.w1 - c.w0 for c in kept.values()))
    joiner = _Joiner(video, params, roi_set, n_windows, on_chunk)
    n_missing = n_windows - done
    use_pool = model is None and n_missing > chunk_windows and (pool is not None or workers > 1)
    old_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        if not use_pool:
            _run_here(video, params, roi_set, model, joiner, chunk_windows, kept,
                      store, tick, cancel)
        elif pool is not None:
            pool.run(video, params, joiner, chunk_windows, kept, store, tick, cancel)
        else:
            with ExtractionPool(min(workers, math.ceil(n_missing / chunk_windows))) as own:
                own.warm()
                own.run(video, params, joiner, chunk_windows, kept, store, tick, cancel)
    finally:
        cv2.setNumThreads(old_threads)
    return joiner.result()


__all__ = ["STRETCH_WINDOWS", "ChunkStore", "ExtractionPool", "FeatureChunk", "feature_prefix", "missing_ranges", "plan_stretches",
           "run_extraction", "walk_edges"]
