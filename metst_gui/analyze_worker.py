"""Analyze in the background: extraction + spotting of chosen videos in a QThread, with progress and Cancel.

The worker opens no project (one Project per thread): it only runs the engine's
:func:`~metst_engine.analysis.analyze_video` per video, writes the combined predictions
CSV, and hands the files back; the GUI thread imports them as one new prediction run
and registers the curves. Cancel sets a flag the extraction polls between windows; with
the cache on, the finished chunks of a cancelled video are kept and the next Analyze
resumes there. Progress says how long the video has left at the pace so far.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtCore

from metst_engine.analysis import AnalysisResult, analyze_video
from metst_engine.errors import Cancelled, MetstError

if TYPE_CHECKING:
    from metst_gui.frame_provider import FrameProvider


@dataclass(frozen=True)
class AnalyzeJob:
    video: str
    subject: str
    path: Path


@dataclass(frozen=True)
class AnalyzeOutcome:
    """Every video's files, and one CSV with all their intervals (imported as one run)."""

    results: list[AnalysisResult]
    combined_csv: Path
    predictor: str
    params: dict


class AnalyzeWorker(QtCore.QThread):
    """Signals: ``progressed(percent, message)``, ``succeeded(AnalyzeOutcome)``, ``failed(message)``,
    ``cancelled()``; exactly one of the last three ends a run."""

    progressed = QtCore.Signal(int, str)
    succeeded = QtCore.Signal(object)
    failed = QtCore.Signal(str)
    cancelled = QtCore.Signal()

    def __init__(self, jobs: list[AnalyzeJob], out_dir: Path, *, checkpoint: str | None = None,
                 use_cache: bool = True, window: int = 30, workers: int = 1, alignment: str | None = None,
                 parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = list(jobs)
        self.out_dir = Path(out_dir)
        self.checkpoint = checkpoint
        self.use_cache = use_cache
        self.window = window
        self.workers = workers
        self.alignment = alignment      #: None: the checkpoint's, or the model-free spotter's own
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def run(self) -> None:
        from metst_engine.intervals_io import write_predictions
        from metst_engine.safe_paths import id_path

        from contextlib import ExitStack

        from metst_engine.feature_runner import ExtractionPool
        from metst_engine.progress import TimeLeft, format_duration

        results: list[AnalysisResult] = []
        n = len(self.jobs)
        try:
            with ExitStack() as stack:   # worker processes (and their landmark models) kept for every video
                pool = stack.enter_context(ExtractionPool(self.workers)) if self.workers > 1 else None
                for k, job in enumerate(self.jobs):
                    left = TimeLeft()

                    def progress(done: int, total: int, k: int = k, name: str = job.video,
                                 left: TimeLeft = left) -> None:
                        share = done / total if total else 1.0
                        secs = left(done, total)
                        eta = f", about {format_duration(secs)} left" if secs is not None else ""
                        self.progressed.emit(int(100 * (k + share) / n), f"{name}: {done}/{total} windows{eta}")
                    self.progressed.emit(int(100 * k / n), f"{job.video}: reading")
                    out_dir = id_path(self.out_dir, job.video, what="video id", source=job.path)
                    results.append(analyze_video(job.path, job.video, job.subject, out_dir,
                                                 checkpoint=self.checkpoint, window=self.window,
                                                 alignment=self.alignment,
                                                 use_cache=self.use_cache, workers=self.workers, pool=pool,
                                                 progress=progress, cancel=self._cancel.is_set))
            rows = [(job.subject, r.video, iv) for job, r in zip(self.jobs, results) for iv in r.intervals]
            combined = write_predictions(self.out_dir / "predictions.csv", rows)
        except Cancelled:
            self.cancelled.emit()
            return
        except (MetstError, OSError, ValueError) as exc:
            self.failed.emit(str(exc))
            return
        self.progressed.emit(100, "done")
        params = dict(results[0].params) if results else {}
        params["videos"] = [r.video for r in results]
        if len(results) > 1:            # one threshold per video; the run keeps them all
            params.pop("threshold", None)
            params["thresholds"] = {r.video: r.params.get("threshold") for r in results}
        self.succeeded.emit(AnalyzeOutcome(results, combined, results[0].predictor if results else "", params))


@dataclass(frozen=True)
class FaceProxyJob:
    video: str
    path: Path
    curves_npz: Path


class FaceProxyWorker(QtCore.QThread):
    """After Analyze: the face proxy of each analysed video (``metst_engine.video.face_proxy``), one after another.

    Signals: ``progressed(video, done, total)``, ``built(video, proxy_path)`` per video,
    ``failed(video, message)`` (the others go on); ``cancel()`` stops at the next frame and
    leaves no partial file.
    """

    progressed = QtCore.Signal(str, int, int)
    built = QtCore.Signal(str, str)
    failed = QtCore.Signal(str, str)

    def __init__(self, jobs: list[FaceProxyJob], proxy_dir: Path, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = list(jobs)
        self.proxy_dir = Path(proxy_dir)
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def run(self) -> None:
        from metst_engine.video.face_proxy import ensure_face_proxy

        for job in self.jobs:
            if self._cancel.is_set():
                return
            try:
                path = ensure_face_proxy(job.path, job.curves_npz, self.proxy_dir, cancel=self._cancel.is_set,
                                         progress=lambda d, t, v=job.video: self.progressed.emit(v, d, t))
            except (MetstError, OSError, ValueError) as exc:
                self.failed.emit(job.video, str(exc))
                continue
            if path is not None:
                self.built.emit(job.video, str(path))


class FaceProxyBuilder(QtCore.QObject):
    """The review window's face proxies (in ``proxy_dir``): attach a built one to a provider, build missing
    ones in a :class:`FaceProxyWorker`, one build at a time.

    Signals: ``built(video, proxy_path)``; ``message(text)`` for the status bar.
    """

    built = QtCore.Signal(str, str)
    message = QtCore.Signal(str)

    def __init__(self, proxy_dir: Path, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.proxy_dir = Path(proxy_dir)
        self.worker: FaceProxyWorker | None = None

    def attach(self, provider: FrameProvider, video: str, curves_npz: Path, *, build: bool = True) -> None:
        """Let ``provider``'s face view read the face proxy for this curves file; build it when it is missing
        or unusable (e.g. a build cut short when the app closed) and ``build``. Frame folders need none."""
        from metst_engine.video import ContainerVideo
        from metst_engine.video.face_proxy import find_face_proxy

        if not isinstance(provider.video, ContainerVideo):
            return
        try:
            found = find_face_proxy(provider.video, curves_npz, self.proxy_dir)
        except MetstError as exc:
            self.message.emit(f"face proxy: {exc}")
            return
        if (found is None or not provider.use_face_proxy(found)) and build:
            self.build([FaceProxyJob(video, provider.video.path, Path(curves_npz))])

    def build(self, jobs: list[FaceProxyJob]) -> None:
        """Build (or check) these face proxies in the background; the jobs of a running build are kept."""
        if self.worker is not None:
            jobs = [j for j in self.worker.jobs if j.video not in {k.video for k in jobs}] + jobs
        self.stop()
        if not jobs:
            return
        worker = FaceProxyWorker(jobs, self.proxy_dir, parent=self)
        worker.progressed.connect(lambda v, d, t: self.message.emit(f"face proxy {v}: {d}/{t} frames"))
        worker.failed.connect(lambda v, msg: self.message.emit(f"face proxy {v}: {msg}"))
        worker.built.connect(self.built)
        self.worker = worker
        worker.start()

    def stop(self) -> None:
        """Cancel a running build (it stops at the next frame and leaves no partial file)."""
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait()
            self.worker.deleteLater()
            self.worker = None
