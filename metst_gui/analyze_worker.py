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

from PySide6 import QtCore

from metst_engine.analysis import AnalysisResult, analyze_video
from metst_engine.errors import Cancelled, MetstError


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
